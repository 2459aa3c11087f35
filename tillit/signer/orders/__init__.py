"""Orders: starting them, the phone's approval, the password check, collecting, signing the
documents, password resets, and receipts. The states and the moves between them: signer/states.py."""
