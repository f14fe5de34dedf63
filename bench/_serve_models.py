"""The three models of bench/serve.py, built the same way in mlwork's venv and in MLflow's."""


def build(kind, X):
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler
    num = [c for c in X.columns if X[c].dtype.kind in "biuf"]
    cat = [c for c in X.columns if c not in num]
    if kind == "demo":      # the demo's train job, model=logreg: impute + scale numbers, one-hot categories
        prep = ColumnTransformer([("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), num),
                                  ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
        return make_pipeline(prep, LogisticRegression(max_iter=2000))
    if kind == "onehot":    # one-hot + scaler + logistic regression on three columns
        prep = ColumnTransformer([("num", StandardScaler(), num), ("cat", OneHotEncoder(handle_unknown="ignore"), cat)])
        return make_pipeline(prep, LogisticRegression(max_iter=2000))
    if kind == "forest":
        return RandomForestClassifier(n_estimators=100, random_state=0, n_jobs=1)
    raise ValueError(kind)
