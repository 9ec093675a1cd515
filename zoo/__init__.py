"""zoo: a Keras 3 model zoo with cards, shared dataset loaders and one-command training.

```python
import zoo
zoo.list_models("vgg*")       # ['vgg13', 'vgg13_bn']
model = zoo.get("vgg13")      # a compiled keras.Model, ready for model.fit
zoo.card("vgg13")             # task, dataset, shapes, parameters, recipe, results
```
"""

from zoo import models
from zoo.errors import ZooError
from zoo.recipe import Recipe
from zoo.registry import Card, Reference, Result, card, get, list_models, options, register

__version__ = "0.1.0"

__all__ = [
    "Card",
    "Recipe",
    "Reference",
    "Result",
    "ZooError",
    "card",
    "get",
    "list_models",
    "models",
    "options",
    "register",
]
