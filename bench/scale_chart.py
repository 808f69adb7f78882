#!/usr/bin/env python3
"""SVG chart of bench/scale.sh results: wall time and peak RSS per step, lightrag-ops vs restic
and borg, one row of panels per workspace size.

    bench/scale_chart.py scale-2000.tsv [scale-20000.tsv ...] > scale.svg

Each TSV is what bench/scale.sh writes ($BENCH_DIR/scale-$DOCS.tsv): tool, step, wall seconds,
peak RSS in KiB. The size is read from the file name.
"""
import re
import sys
from html import escape

STEPS = ["first", "incremental", "restore", "verify"]
TOOLS = [("ours", "lightrag-ops", "#2f6fb0"), ("restic", "restic", "#d98b2b"), ("borg", "borg", "#7a9a3a")]
PANEL_W, PANEL_H, ROW_H = 430, 210, 250


def load(path):
    rows = {}
    for line in open(path, encoding="utf-8"):
        parts = line.rstrip("\n").split("\t")
        if len(parts) == 4 and parts[0] in dict((t, 1) for t, _, _ in TOOLS):
            rows[(parts[0], parts[1])] = (float(parts[2]), int(parts[3]) / 1024)
    return rows


def panel(out, x0, y0, title, values, unit):
    """values: {(tool, step): number}; grouped bars per step."""
    top = max(values.values()) * 1.15 or 1
    plot_x, plot_y, plot_w, plot_h = x0 + 48, y0 + 28, PANEL_W - 60, PANEL_H - 70
    out.append(f'<text x="{x0 + 8}" y="{y0 + 16}" font-size="13" font-weight="bold">{escape(title)}</text>')
    for k in range(5):
        v = top * k / 4
        y = plot_y + plot_h - plot_h * k / 4
        out.append(f'<line x1="{plot_x}" y1="{y:.1f}" x2="{plot_x + plot_w}" y2="{y:.1f}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{plot_x - 4}" y="{y + 4:.1f}" font-size="10" text-anchor="end">{v:.3g}</text>')
    group_w = plot_w / len(STEPS)
    bar_w = group_w / (len(TOOLS) + 1)
    for i, step in enumerate(STEPS):
        gx = plot_x + i * group_w + bar_w / 2
        for j, (tool, name, color) in enumerate(TOOLS):
            v = values.get((tool, step))
            if v is None:
                continue
            h = plot_h * v / top
            x = gx + j * bar_w
            y = plot_y + plot_h - h
            out.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{color}">'
                f"<title>{escape(name)}, {step}: {v:.2f} {unit}</title></rect>"
            )
        out.append(
            f'<text x="{plot_x + i * group_w + group_w / 2:.1f}" y="{plot_y + plot_h + 14}" '
            f'font-size="11" text-anchor="middle">{step}</text>'
        )
    out.append(f'<line x1="{plot_x}" y1="{plot_y + plot_h}" x2="{plot_x + plot_w}" y2="{plot_y + plot_h}" stroke="#555"/>')


def main(paths):
    if not paths:
        sys.exit(__doc__)
    width = 2 * PANEL_W + 20
    height = len(paths) * ROW_H + 40
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for r, path in enumerate(paths):
        rows = load(path)
        m = re.search(r"scale-(\d+)\.tsv$", path)
        docs = f"{int(m.group(1)):,} docs".replace(",", " ") if m else path
        y0 = 10 + r * ROW_H
        panel(out, 10, y0, f"{docs}: wall time (s, lower is better)", {k: v[0] for k, v in rows.items()}, "s")
        panel(out, 10 + PANEL_W + 10, y0, f"{docs}: peak RSS (MiB)", {k: v[1] for k, v in rows.items()}, "MiB")
    lx = 20
    for _, name, color in TOOLS:
        out.append(f'<rect x="{lx}" y="{height - 22}" width="12" height="12" fill="{color}"/>')
        out.append(f'<text x="{lx + 16}" y="{height - 12}" font-size="12">{escape(name)}</text>')
        lx += 110
    out.append("</svg>")
    print("\n".join(out))


if __name__ == "__main__":
    main(sys.argv[1:])
