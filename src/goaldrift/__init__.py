"""goaldrift: the library behind the executable research book.

Layers, top to bottom; a module imports only from its own layer and the layers below it:

    book         the framework: chapter specs, parameters, profiles, claims, execution, site, CLI.
                 Never imports torch; it reaches experiments and engine only inside the
                 functions that train (a chapter's sweep, `goaldrift sweep`, run provenance).
    experiments  what the chapters call, by topic (decay/, grokking/, goals/, plots); imports
                 engine and theory, never book.
    engine       models, tasks, optimiser, training loop, run cache, sweeps; knows no chapter.
    theory       sympy derivations. engine and theory never import each other.
    paths        where the repository is; imports nothing from goaldrift.
    numerics     which CPU kernels compute (portable or native); imports nothing from goaldrift.
                 Importing goaldrift pins them (see goaldrift.numerics), before torch computes.
    stats        the Student-t quantile (no scipy); imports nothing from goaldrift.
    tables       Markdown tables, the one way the book writes them; imports nothing from goaldrift.
    settings     the environment variables that size processes (threads, workers), read without torch.
    jsonfiles    reading a JSON input safely (a regular file, bounded size and depth).

tests/test_layers.py enforces these directions.
"""

__version__ = "0.1.0"

from goaldrift.numerics import pin_at_import as _pin_at_import

_pin_at_import()
