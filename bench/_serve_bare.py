"""The ceiling of bench/serve.py: a bare FastAPI + uvicorn app answering one scikit-learn model (no validation,
no keys, no metrics, no reload). Model and its feature names come from a pickle named by BARE_MODEL."""
import os, pickle
import pandas as pd
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

with open(os.environ["BARE_MODEL"], "rb") as f: MODEL, FEATURES = pickle.load(f)
CLASSES = MODEL.classes_.tolist()
app = FastAPI()


@app.post("/predict")
async def predict(request: Request):
    rows = await request.json()
    proba = MODEL.predict_proba(pd.DataFrame(rows)[FEATURES])
    return JSONResponse({"predictions": [CLASSES[i] for i in proba.argmax(axis=1)], "probabilities": proba.tolist()})
