"""Copy the front-end assets we serve from node_modules into static/vendor/.

Only the icons the templates use go into the sprite (the full Lucide sprite is 0.5 MB).
"""

import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
NODE = ROOT / "node_modules"
OUT = ROOT / "static" / "vendor"
ICONS = [
    "layout-dashboard",
    "server",
    "boxes",
    "shield-check",
    "calendar-clock",
    "bell",
    "history",
    "settings",
    "building-2",
    "users",
    "log-out",
    "chevron-down",
    "x",
    "circle-alert",
    "circle-check",
    "loader-circle",
    "search",
    "plus",
    "trash-2",
    "menu",
    "refresh-cw",
    "database",
    "tag",
    "play",
    "pause",
    "pencil",
    "external-link",
    "book-open",
    "check",
    "plug-zap",
    "rocket",
    "chevron-right",
    # health: never colour alone
    "triangle-alert",
    "octagon-x",
    "server-off",
    "clock-alert",
    "circle-dashed",
    "hourglass",
]


def build_sprite() -> str:
    symbols = []
    for name in ICONS:
        svg = (NODE / "lucide-static" / "icons" / f"{name}.svg").read_text()
        body = re.search(r"<svg[^>]*>(.*)</svg>", svg, re.S).group(1)  # type: ignore[union-attr]
        body = re.sub(r"<!--.*?-->", "", body, flags=re.S).strip()
        symbols.append(f'<symbol id="{name}" viewBox="0 0 24 24">{body}</symbol>')
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" fill="none" stroke="currentColor" '
        'stroke-width="2" stroke-linecap="round" stroke-linejoin="round">'
        + "".join(symbols)
        + "</svg>\n"
    )


def main() -> int:
    if not NODE.exists():
        print("node_modules missing: run npm ci first", file=sys.stderr)
        return 1
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "icons.svg").write_text(build_sprite())
    for name in ("uPlot.iife.min.js", "uPlot.min.css"):
        shutil.copy2(NODE / "uplot" / "dist" / name, OUT / name)
    print(f"assets: {len(ICONS)} icons, uPlot -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
