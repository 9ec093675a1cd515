"""What each dataset is: shapes, classes, official counts, the files it comes in, and where to get them."""

from __future__ import annotations

from dataclasses import dataclass, field

from zoo.errors import unknown

CIFAR100_CLASSES = (
    "apple aquarium_fish baby bear beaver bed bee beetle bicycle bottle bowl boy bridge bus "
    "butterfly camel can castle caterpillar cattle chair chimpanzee clock cloud cockroach couch "
    "crab crocodile cup dinosaur dolphin elephant flatfish forest fox girl hamster house kangaroo "
    "keyboard lamp lawn_mower leopard lion lizard lobster man maple_tree motorcycle mountain mouse "
    "mushroom oak_tree orange orchid otter palm_tree pear pickup_truck pine_tree plain plate poppy "
    "porcupine possum rabbit raccoon ray road rocket rose sea seal shark shrew skunk skyscraper "
    "snail snake spider squirrel streetcar sunflower sweet_pepper table tank telephone television "
    "tiger tractor train trout tulip turtle wardrobe whale willow_tree wolf woman worm"
).split()


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset the zoo can load: its example shape and dtype, classes, and where its files come from.

    `files` lists, relative to a data folder, the names each format is looked for under, in
    order; `download` is the official address, for people who fetch files by hand.
    """

    name: str
    kind: str  # "image" or "text"
    shape: tuple[int, ...]
    dtype: str
    classes: tuple[str, ...]
    counts: dict[str, int]
    tfds_name: str
    description: str
    citation: str
    download: str
    files: tuple[tuple[str, str], ...]  # (format, relative path)
    augment: bool = False
    aliases: tuple[str, ...] = field(default=())

    @property
    def num_classes(self) -> int:
        return len(self.classes)


def _image_folder(name: str, *dirs: str) -> tuple[tuple[str, str], ...]:
    names = (name, *dirs)
    return (*(("imagefolder", d) for d in names), *(("imagefolder", f"{d}.tar.gz") for d in names))


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="mnist",
            kind="image",
            shape=(28, 28, 1),
            dtype="uint8",
            classes=tuple(str(d) for d in range(10)),
            counts={"train": 60_000, "test": 10_000},
            tfds_name="mnist",
            description="Handwritten digits 0-9, 28x28 grey.",
            citation="LeCun, Cortes and Burges, The MNIST database of handwritten digits (1998)",
            download="https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz",
            files=(("npz", "mnist.npz"), ("idx", "mnist"), *_image_folder("mnist")),
        ),
        DatasetSpec(
            name="fashion_mnist",
            kind="image",
            shape=(28, 28, 1),
            dtype="uint8",
            classes=("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt",
                     "Sneaker", "Bag", "Ankle boot"),
            counts={"train": 60_000, "test": 10_000},
            tfds_name="fashion_mnist",
            description="Zalando's clothing images in 10 classes, 28x28 grey.",
            citation="Xiao, Rasul and Vollgraf, Fashion-MNIST (2017), arXiv:1708.07747",
            download="https://github.com/zalandoresearch/fashion-mnist (data/fashion/*-ubyte.gz)",
            files=(("idx", "fashion-mnist"), *_image_folder("fashion_mnist", "fashion-mnist")),
            aliases=("fashion", "fashion-mnist"),
        ),
        DatasetSpec(
            name="cifar10",
            kind="image",
            shape=(32, 32, 3),
            dtype="uint8",
            classes=("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                     "ship", "truck"),
            counts={"train": 50_000, "test": 10_000},
            tfds_name="cifar10",
            description="Tiny colour images in 10 classes, 32x32 RGB.",
            citation="Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009)",
            download="https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
            files=(("cifar", "cifar-10-batches-py"),
                   # where keras.datasets.cifar10 (Keras >= 3.4) extracts it in its cache
                   ("cifar", "cifar-10-batches-py-target/cifar-10-batches-py"),
                   ("cifar", "cifar-10-python.tar.gz"),
                   ("cifar", "cifar-10-batches-py.tar.gz"), *_image_folder("cifar10", "cifar-10")),
            augment=True,
            aliases=("cifar-10",),
        ),
        DatasetSpec(
            name="cifar100",
            kind="image",
            shape=(32, 32, 3),
            dtype="uint8",
            classes=tuple(CIFAR100_CLASSES),
            counts={"train": 50_000, "test": 10_000},
            tfds_name="cifar100",
            description="Tiny colour images in 100 fine classes, 32x32 RGB.",
            citation="Krizhevsky, Learning Multiple Layers of Features from Tiny Images (2009)",
            download="https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
            files=(("cifar", "cifar-100-python"),
                   ("cifar", "cifar-100-python-target/cifar-100-python"),
                   ("cifar", "cifar-100-python.tar.gz"),
                   *_image_folder("cifar100", "cifar-100")),
            augment=True,
            aliases=("cifar-100",),
        ),
        DatasetSpec(
            name="imdb",
            kind="text",
            shape=(),
            dtype="string",
            classes=("neg", "pos"),
            counts={"train": 25_000, "test": 25_000},
            tfds_name="imdb_reviews",
            description="Movie reviews from IMDB labelled negative (0) or positive (1).",
            citation="Maas et al., Learning Word Vectors for Sentiment Analysis (ACL 2011)",
            download="https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",
            files=(("aclimdb", "aclImdb"), ("aclimdb", "aclImdb_v1.tar.gz"),
                   ("aclimdb", "aclImdb.tar.gz")),
            aliases=("imdb_reviews",),
        ),
    )
}


def spec(name: str) -> DatasetSpec:
    """The spec of dataset `name` or alias; unknown names raise `ZooError` with close matches."""
    if isinstance(name, str):
        if name in DATASETS:
            return DATASETS[name]
        for candidate in DATASETS.values():
            if name in candidate.aliases:
                return candidate
    raise unknown("dataset", name, DATASETS)
