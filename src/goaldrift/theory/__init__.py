"""The book's derivations in sympy, one module per chapter topic (each returns a
`Derivation`, goaldrift.theory.derivation)."""
