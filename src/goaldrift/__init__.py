"""goaldrift: the library behind the executable research book.

Chapters (book/chapters/*.ipynb) are thin narratives that call into this
package; everything a second chapter could use lives here, with tests.
"""

__version__ = "0.1.0"
