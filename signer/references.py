"""Two-word references shown on both kiosk and phone, so the customer can see they match."""

from __future__ import annotations

import secrets

ADJECTIVES = (
    "BLÅ", "RAUD", "GRØN", "GUL", "KVIT", "SVART", "STILLE", "VILL", "LJOS", "MØRK", "VARM", "KALD",
    "HØG", "DJUP", "LITEN", "STOR", "SNØGG", "ROLEG", "GLAD", "STERK", "MJUK", "KLAR", "FRISK", "SØT",
    "TRYGG", "FIN", "NY", "GAMAL", "BRUN", "GRÅ", "LANG", "KORT",
)
NOUNS = (
    "FJORD", "FJELL", "ELV", "SKOG", "BREEN", "BØLGJE", "HAV", "STRAND", "ØY", "DAL", "FOSS", "MYR",
    "ELG", "REV", "ØRN", "LAKS", "HARE", "ULV", "BJØRN", "MÅKE", "LUNDE", "TORSK", "HJORT", "GAUK",
    "SOL", "MÅNE", "STJERNE", "VIND", "REGN", "SNØ", "TIND", "VIK",
)


def new_reference() -> str:
    return f"{secrets.choice(ADJECTIVES)} {secrets.choice(NOUNS)}"
