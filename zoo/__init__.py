"""zoo: a Keras 3 model zoo with cards, shared dataset loaders and one-command training.

```python
import zoo
zoo.list_models("vgg*")       # the VGG models' names
model = zoo.get("vgg13")      # a compiled keras.Model, ready for model.fit
zoo.card("vgg13")             # task, dataset, shapes, parameters, recipe, results
```
"""

import logging
import sys

from zoo import data, models, results, train
from zoo.errors import ZooError
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, Result, card, get, list_models, options, register

__version__ = "0.1.0"


class _Fallback(logging.StreamHandler):
    """The zoo's one-line messages on stderr ("zoo: ..."), until the application configures
    logging: once the root logger or the "zoo" logger has another handler, the messages reach
    the application's handlers only."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)  # the stream is whatever sys.stderr is when it emits
        self.setFormatter(logging.Formatter("zoo: %(message)s"))

    @property
    def stream(self):
        return sys.stderr

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers and all(h is self for h in _log.handlers):
            super().emit(record)


# The zoo says where its data came from and what it is doing, at INFO (an application quiets
# it with logging.getLogger("zoo").setLevel(logging.WARNING)).
_log = logging.getLogger("zoo")
if not _log.handlers:
    _log.addHandler(_Fallback())
    _log.setLevel(logging.INFO)

__all__ = [
    "Card",
    "Recipe",
    "Reference",
    "Result",
    "ZooError",
    "card",
    "data",
    "get",
    "list_models",
    "models",
    "options",
    "register",
    "results",
    "train",
]
