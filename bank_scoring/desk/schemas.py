"""The API's request and response bodies (pydantic): its OpenAPI description and its validation."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

Job = Literal[
    "admin.",
    "blue-collar",
    "entrepreneur",
    "housemaid",
    "management",
    "retired",
    "self-employed",
    "services",
    "student",
    "technician",
    "unemployed",
    "unknown",
]
Marital = Literal["married", "single", "divorced", "unknown"]
Education = Literal["primary", "secondary", "tertiary", "unknown"]
Channel = Literal["cellular", "telephone", "unknown"]
PreviousOutcome = Literal["success", "failure", "other", "unknown"]
YesNo = Literal["yes", "no"]
Band = Literal["A", "B", "C", "D"]
Outcome = Literal["subscribed", "declined", "no_answer", "call_back", "do_not_call"]


# Ids in a path: bounded by their columns (bigint, integer), so a huge number is a 422, not a
# driver's overflow error.
CustomerId = Annotated[int, Path(ge=1, le=2**63 - 1)]
ModelVersion = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


def _as_utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


# The database keeps naive UTC; answers say so (RFC 3339, "Z"), as OpenAPI's date-time requires.
UTCDateTime = Annotated[dt.datetime, AfterValidator(_as_utc)]

# Free text that reaches the database: PostgreSQL's text cannot hold NUL, so it is refused
# here (422) on either database instead of failing in the driver.
Text = Annotated[str, AfterValidator(_no_nul)]


class Closed(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str
    field: str | None = None


class Call(BaseModel):
    called_at: UTCDateTime
    agent_id: str
    outcome: str
    callback_at: UTCDateTime | None = None
    notes: str | None = None


class Customer(BaseModel):
    customer_id: int
    age: int | None = None
    job: str | None = None
    marital: str | None = None
    education: str | None = None
    balance: int | None = None
    has_housing_loan: bool | None = None
    has_personal_loan: bool | None = None
    contact_channel: str | None = None
    previous_contacts: int | None = None
    previous_outcome: str | None = None
    pdays: int | None = None
    time_zone: str | None = None
    reasons: list[str] = []
    calls: list[Call] = []


class Lead(BaseModel):
    claim_id: int
    customer_id: int
    agent_id: str
    run_id: int
    score_date: dt.date
    rank: int
    band: str
    propensity: float
    is_callback: bool
    claimed_at: UTCDateTime
    expires_at: UTCDateTime


class NextLead(BaseModel):
    lead: Lead | None = Field(description="null when the contact policy lets nobody be called now")
    customer: Customer | None = None


class OutcomeIn(Closed):
    outcome: Outcome
    callback_at: dt.datetime | None = Field(
        None, description="for call_back: when to call; without an offset, the centre's local time"
    )
    notes: Text | None = Field(None, max_length=2000)


class Recorded(BaseModel):
    call_outcome_id: int
    claim_id: int | None
    customer_id: int
    agent_id: str
    outcome: str
    called_at: UTCDateTime
    callback_at: UTCDateTime | None
    duplicate: bool


class Released(BaseModel):
    claim_id: int
    customer_id: int


class WorklistRow(BaseModel):
    rank: int
    customer_id: int
    propensity: float
    band: str
    age: int | None = None
    job: str | None = None
    marital: str | None = None
    education: str | None = None
    balance: int | None = None
    has_housing_loan: bool | None = None
    has_personal_loan: bool | None = None
    contact_channel: str | None = None
    previous_contacts: int | None = None
    previous_outcome: str | None = None
    days_since_previous_contact: int | None = None
    score_date: dt.date
    model_version: int
    reason_1: str | None = None
    reason_2: str | None = None
    reason_3: str | None = None


class Worklist(BaseModel):
    rows: list[WorklistRow]
    limit: int
    offset: int


class Run(BaseModel):
    run_id: int
    score_date: dt.date
    model_version: int
    status: str
    partitions: int
    customers_total: int | None
    customers_scored: int | None
    customers_rejected: int | None
    customers_suppressed: int | None
    seconds: float | None
    error: str | None
    max_psi: float | None
    drift_alert: str | None


class Model(BaseModel):
    model_version: int
    algorithm: str
    status: str
    roc_auc: float | None
    pr_auc: float | None
    lift_top_decile: float | None
    brier_score: float | None
    training_rows: int
    created_at: str | None
    promoted_at: str | None
    has_report: bool


class TutorialIn(Closed):
    """The tutorial's JSON: eight client columns with UCI names and yes/no flags."""

    age: int = Field(ge=18, le=110)
    job: Job
    marital: Marital
    education: Education
    default: YesNo
    balance: int = Field(ge=-100_000_000, le=1_000_000_000)
    housing: YesNo
    loan: YesNo


class PredictIn(Closed):
    """Every attribute the model uses, in the package's names; the call date defaults to today."""

    age: int = Field(ge=18, le=110)
    job: Job
    marital: Marital
    education: Education
    has_credit_default: bool
    balance: int = Field(ge=-100_000_000, le=1_000_000_000)
    has_housing_loan: bool
    has_personal_loan: bool
    contact_channel: Channel
    campaign: int = Field(
        ge=0, le=1000, description="contacts in this campaign, the call being scored included (the UCI meaning)"
    )
    pdays: int = Field(ge=-1, le=10_000)
    previous_contacts: int = Field(ge=0, le=10_000)
    previous_outcome: PreviousOutcome
    call_date: dt.date | None = None


class Prediction(BaseModel):
    probability: float
    model_version: int
    call_date: dt.date
    filled_with_typical_values: dict[str, str | float | int | bool | None]


class TutorialPrediction(Prediction):
    prediction: int = Field(description="1 when the probability is at least 0.5, as the tutorial's app answered")
