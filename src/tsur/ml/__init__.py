"""Trainable text models: a linear classifier over lemma and character n-gram features.

Training needs scikit-learn (``pip install 'tsur[ml]'``); prediction needs
only numpy — and, for a model trained with navec word vectors as a second
block of features (:mod:`tsur.ml.embeddings`), ``pip install 'tsur[natasha]'``.
See docs/models.md. Models are saved as a versioned ``.npz`` archive of plain
arrays loaded with ``allow_pickle=False``, so a model file cannot run code.
"""

from tsur.ml.data import LabelledData, read_labelled_csv
from tsur.ml.metrics import Metrics, evaluate_predictions
from tsur.ml.model import MODEL_FORMAT, MODEL_VERSION, Prediction, TextModel, text_features
from tsur.ml.train import cross_validate, train_model

__all__ = [
    "MODEL_FORMAT",
    "MODEL_VERSION",
    "LabelledData",
    "Metrics",
    "Prediction",
    "TextModel",
    "cross_validate",
    "evaluate_predictions",
    "read_labelled_csv",
    "text_features",
    "train_model",
]
