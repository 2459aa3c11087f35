"""One `APIRouter` per area of the API, mounted by `signer.http.app.create_app` in this order."""
