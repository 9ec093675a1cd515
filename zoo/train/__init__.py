"""Training: `fit()` a zoo model with its recipe, `evaluate()` a saved one; `python -m zoo.train`.

```python
result = zoo.train.fit("mnist_mlp")            # runs/mnist_mlp-<UTC time>/
result.test_metrics                             # {'loss': ..., 'accuracy': ..., 'top5_accuracy': ...}
zoo.train.evaluate(result.run_dir)              # test metrics of the saved model
```
"""

from zoo.train.callbacks import RunAborted, TrainingInterrupted
from zoo.train.core import TrainingDiverged, TrainResult, fit
from zoo.train.evaluate import evaluate, load

__all__ = ["RunAborted", "TrainResult", "TrainingDiverged", "TrainingInterrupted", "evaluate", "fit",
           "load"]
