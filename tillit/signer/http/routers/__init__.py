"""One `APIRouter` per area of the API: `signer.http.app.create_app` mounts those in `ROUTERS` (http/app.py), in
that order; `rp.py` is the BankID RP face's, mounted by `signer.http.rp_app`."""
