"""The model families; importing this package registers every model."""

from zoo.models import autoencoder, gan, mlp, resnet, rnn, vgg

__all__ = ["autoencoder", "gan", "mlp", "resnet", "rnn", "vgg"]
