"""``POST /api``: the tutorial's prediction endpoint, kept compatible.

The tutorial's Flask app took eight client columns as JSON and answered with the model's
prediction. Here the champion answers: the probability, the 0/1 prediction the tutorial
gave, and which of the model's other inputs were filled with typical values.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request

from bank_scoring.agents.users import User
from bank_scoring.desk import schemas
from bank_scoring.desk.api import ANY_USER, ERRORS
from bank_scoring.desk.predict import from_tutorial, predict_customer

router = APIRouter(tags=["tutorial"], responses=ERRORS)


@router.post("/api", response_model=schemas.TutorialPrediction, summary="the tutorial's prediction endpoint")
def tutorial_predict(request: Request, body: schemas.TutorialIn, user: User = Depends(ANY_USER)):
    found = predict_customer(
        request.app.state.engine, from_tutorial(body.model_dump()), request.app.state.clock().date()
    )
    return {**found, "prediction": int(found["probability"] >= 0.5)}
