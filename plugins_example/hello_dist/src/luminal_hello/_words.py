"""A helper module the photons import relatively, so it reloads with them."""


def salute(who: str) -> str:
    return f"Hello from an installed photon, {who}!"
