"""The parts of Tillit's testers' kit that the pytest plugin (`tillit.phone.pytest_plugin`) hands
out: a throwaway home (`home`), the signer serving it (`signer`), customers and their phones
(`phone`), and what all of them run commands with (`commands`). They drive the real commands and
the HTTP API only: nothing here imports the signer or the HSM layer."""
