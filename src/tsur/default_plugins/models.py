"""Trained text models as plugins: topic classifiers and executor routers.

A region lists its models in ``[[models]]`` (see :class:`tsur.config.ModelConfig`).
A ``topic`` model votes with the keyword classifier by weight; an
``executor`` model routes an appeal straight to its executor from the text
when it is confident enough, before the rules.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from tsur.analysis import Analysis
from tsur.config import ModelConfig, RegionConfig
from tsur.context import Context
from tsur.domain import Classification, Incident, Message, RouteDecision
from tsur.errors import ModelError, PluginError
from tsur.hookspecs import hookimpl
from tsur.ml.model import TextModel
from tsur.protocols import Register
from tsur.text.normalize import Text

__all__ = ["ModelClassifier", "ModelRouter"]


@lru_cache(maxsize=16)
def _load(path: str, mtime: float) -> TextModel:
    model = TextModel.load(path)
    model.warm_up()  # word vectors loaded at start-up, once; a missing extra said here
    return model


def _model_for(mc: ModelConfig, config: RegionConfig, known: set[str], what: str) -> TextModel:
    path = Path(mc.path)
    if not path.is_absolute() and config.base_dir is not None:
        path = config.base_dir / path
    try:
        model = _load(str(path), path.stat().st_mtime if path.exists() else 0.0)
    except ModelError as exc:
        raise PluginError(f"model {mc.name!r}: {exc}", plugin=__name__) from exc
    unmapped = sorted(lab for lab in model.labels if mc.labels.get(lab, lab) not in known)
    if unmapped:
        raise PluginError(
            f"model {mc.name!r}: labels {', '.join(map(repr, unmapped[:10]))} are not {what} "
            f'ids of the region; map them in [models.labels] (model label = "{what} id")',
            plugin=__name__,
        )
    return model


class ModelClassifier:
    """A trained model voting for a topic."""

    def __init__(self, model: TextModel, mc: ModelConfig) -> None:
        self.model = model
        self.mc = mc

    def classify(self, message: Message, text: Text) -> Classification | None:
        """The model's topic with its calibrated confidence and the words that weighed most;
        ``auto`` says whether the confidence reaches the model's threshold for that topic."""
        p = self.model.predict_lemmas(text.lemmas)
        if p.confidence < self.mc.min_confidence:
            return None
        topic = self.mc.labels.get(p.label, p.label)
        known = self.model.threshold_for(p.label) is not None
        return Classification(
            topic,
            p.confidence,
            None,
            p.evidence,
            self.mc.name,
            auto=self.model.decides_alone(p) if known else None,
        )


class ModelRouter:
    """A trained model routing straight to an executor when it is confident."""

    def __init__(self, model: TextModel, mc: ModelConfig) -> None:
        self.model = model
        self.mc = mc

    def route(self, incident: Incident, analysis: Analysis) -> RouteDecision | None:
        """The predicted executor from the message's lemmas; None below ``min_confidence``
        or below the model's own threshold for that executor (the rules route then)."""
        p = self.model.predict_lemmas(analysis.text.lemmas)
        if p.confidence < self.mc.min_confidence:
            return None
        if self.model.threshold_for(p.label) is not None and not self.model.decides_alone(p):
            return None
        executor = self.mc.labels.get(p.label, p.label)
        words = ", ".join(p.evidence[:4])
        return RouteDecision(
            executor, f"model {self.mc.name} ({p.confidence:.2f}; {words})", self.mc.name
        )


@hookimpl
def register_classifiers(register: Register, context: Context) -> None:
    """Register each ``topic`` model of the region."""
    config = context.config
    topics = set(context.region.topics)
    for mc in config.models:
        if mc.target == "topic":
            register(
                mc.name,
                ModelClassifier(_model_for(mc, config, topics, "topic"), mc),
                weight=mc.weight,
            )


@hookimpl
def register_routers(register: Register, context: Context) -> None:
    """Register each ``executor`` model of the region."""
    config = context.config
    executors = set(context.region.executors)
    for mc in config.models:
        if mc.target == "executor":
            model = _model_for(mc, config, executors, "executor")
            register(mc.name, ModelRouter(model, mc), priority=mc.priority)
