"""Tillit: BankID-style identity and signing for bank branch offices, keys in a PKCS#11 HSM.

The four parts live in subpackages: ``tillit.hsm`` (everything PKCS#11), ``tillit.signer`` (the
daemon), ``tillit.kiosk`` (the branch terminal) and ``tillit.phone`` (the simulated BankID app).
They sit under one package so that installing Tillit never shadows, or is shadowed by, a
project's own ``hsm``, ``signer``, ``kiosk`` or ``phone`` package.
"""
