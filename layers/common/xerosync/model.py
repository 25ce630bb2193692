"""The base of the product's pydantic models: each is built (its validator and serializer) the first time it is
used, not when its module is imported. A handler imports many models (its routes', its messages', Xero's) and a
request uses few, so a cold start pays only for those (docs/architecture.md, "Cold start")."""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
