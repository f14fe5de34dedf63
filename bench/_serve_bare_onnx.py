"""The ceiling of `bench/serve.py --runtime onnx`: a bare FastAPI + uvicorn app answering one ONNX model in
onnxruntime (no validation, no keys, no metrics, no reload, no log). The model is the edge bundle folder named by
BARE_ONNX (model.onnx + signature.json, as `mlwork models export` writes it)."""
import json, os
import numpy as np, onnxruntime as ort
from fastapi import FastAPI, Request
from starlette.responses import JSONResponse

FOLDER = os.environ["BARE_ONNX"]
with open(os.path.join(FOLDER, "signature.json")) as f: SIG = json.load(f)
so = ort.SessionOptions()
so.intra_op_num_threads, so.inter_op_num_threads = 1, 1
SESSION = ort.InferenceSession(os.path.join(FOLDER, "model.onnx"), so, providers=["CPUExecutionProvider"])
OUTPUTS = [o.name for o in SESSION.get_outputs()]
DTYPE = "float64" if SIG.get("precision") == "double" else "float32"
CLASSES = SIG["classes"]
app = FastAPI()


@app.post("/predict")
async def predict(request: Request):
    rows = await request.json()
    feed = {}
    for s in SIG["inputs"]:
        n = s["name"]
        if s["type"] == "number": feed[n] = np.array([[np.nan if r[n] is None else r[n]] for r in rows], dtype=DTYPE)
        else: feed[n] = np.array([[str(r[n])] for r in rows], dtype=object)
    proba = dict(zip(OUTPUTS, SESSION.run(None, feed)))["probabilities"]
    return JSONResponse({"predictions": [CLASSES[i] for i in proba.argmax(axis=1)], "probabilities": proba.tolist()})
