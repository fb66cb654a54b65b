"""The base of the models that only document an answer written as JSON by hand."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["DocumentedModel"]


class DocumentedModel(BaseModel):
    """A model of an answer the endpoint writes as JSON by hand: it documents the answer in
    OpenAPI (and the agents function reads answers back into it), so it is built on its first
    use, not at every start (pydantic's `defer_build`)."""

    model_config = ConfigDict(defer_build=True)
