"""The book framework: chapter specifications, parameters, profiles, claims, papermill
execution, site assembly and the `goaldrift` command; used for every chapter."""
