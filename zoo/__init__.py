"""zoo: a Keras 3 model zoo with cards, shared dataset loaders and one-command training.

```python
import zoo
zoo.list_models("vgg*")       # the VGG models' names
model = zoo.get("vgg13")      # a compiled keras.Model, ready for model.fit
zoo.card("vgg13")             # task, dataset, shapes, parameters, recipe, results
```
"""

import logging

from zoo import data, models, train
from zoo.errors import ZooError
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, Result, card, get, list_models, options, register

__version__ = "0.1.0"

# The zoo says where its data came from and what it is doing in one-line messages on stderr,
# unless the application has configured logging for "zoo" itself.
_log = logging.getLogger("zoo")
if not _log.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("zoo: %(message)s"))
    _log.addHandler(_handler)
    _log.setLevel(logging.INFO)
    _log.propagate = False

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
    "train",
]
