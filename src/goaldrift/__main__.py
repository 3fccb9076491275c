"""`python -m goaldrift` and the `goaldrift` command (goaldrift.book.cli), for every chapter.

The entry point is this small module, not the CLI's, so that a Ctrl-C during the
CLI's own imports is honoured with the CLI's one line, not a traceback; and a
SIGINT the caller's shell set to be ignored (a script's `goaldrift ... &`) is
honoured too: Ctrl-C means stop, from the first instant.
"""

import signal
import sys

INTERRUPTED = "goaldrift: interrupted; earlier results were left as they were"
EXIT_INTERRUPTED = 130


def entry() -> int:
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        from goaldrift.book.cli import main
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return EXIT_INTERRUPTED
    return main()


if __name__ == "__main__":
    raise SystemExit(entry())
