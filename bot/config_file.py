"""Loading the optional TOML file into core's DeskConfig, with errors that name the file, the
key and what is wrong."""

from __future__ import annotations

import tomllib
from pathlib import Path

from pydantic import ValidationError

from core.config import DeskConfig


class ConfigError(Exception):
    pass


def load_desk_config(path: Path | None) -> DeskConfig:
    if path is None:
        return DeskConfig()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file (set by HELPLINE_CONFIG)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    kb = raw.get("knowledge_base_dir")
    if isinstance(kb, str) and not Path(kb).is_absolute():
        raw["knowledge_base_dir"] = str((path.parent / kb).resolve())
    try:
        return DeskConfig.model_validate(raw)
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"]) or "(top level)"
            lines.append(f"  {where}: {err['msg']}")
        raise ConfigError(f"{path}: invalid configuration\n" + "\n".join(lines)) from None
