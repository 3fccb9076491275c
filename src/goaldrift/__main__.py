"""`python -m goaldrift`: the same command as `goaldrift` (goaldrift.book.cli), for every chapter."""

from goaldrift.book.cli import main

raise SystemExit(main())
