"""The structured answers we ask the model for (pydantic; their JSON schema goes to Gemini as
``responseJsonSchema``). The model judges facts it is given: every claim names fact ids."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Action = Literal["BUY", "HOLD", "SELL"]


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewsJudgement(Answer):
    """The closing-bet news score (the monolith's ``{score, reason}``) with the news ids used."""

    score: int = Field(ge=0, le=3, description="3 strong, 2 moderate, 1 weak or neutral, 0 none")
    reason: str = Field(min_length=1, max_length=400)
    evidence: list[str] = Field(default_factory=list, description="news fact ids, e.g. N1")


class Claim(Answer):
    text: str = Field(min_length=1, max_length=300)
    evidence: list[str] = Field(min_length=1, description="fact ids that support the claim")


class Recommendation(Answer):
    """A signal's recommendation: action, confidence 0–100, a reason and checkable claims."""

    action: Action
    confidence: int = Field(ge=0, le=100)
    reason: str = Field(min_length=1, max_length=600)
    claims: list[Claim] = Field(min_length=1, max_length=6)
