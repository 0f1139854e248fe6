"""Plain text of a ProseMirror document (Luma's `description_mirror`)."""

from __future__ import annotations

from typing import Any

# Nodes that form a block of their own: separated from their neighbours by a blank line.
_BLOCKS = frozenset(
    {
        "paragraph",
        "heading",
        "blockquote",
        "code_block",
        "bullet_list",
        "ordered_list",
        "horizontal_rule",
    }
)


def prosemirror_text(doc: Any) -> str:
    """Text of the document: blocks split by blank lines, list items as '- ' lines.

    Media nodes (images, embedded videos) carry no text and are skipped; link marks keep
    their text. Unknown node types are walked for whatever text they contain.
    """
    blocks: list[str] = []
    _collect_blocks(doc, blocks)
    return "\n\n".join(b for b in (block.strip() for block in blocks) if b)


def _collect_blocks(node: Any, blocks: list[str]) -> None:
    if not isinstance(node, dict):
        return
    kind = node.get("type")
    if kind in ("bullet_list", "ordered_list"):
        lines = []
        for number, item in enumerate(node.get("content") or [], start=1):
            marker = f"{number}." if kind == "ordered_list" else "-"
            lines.append(f"{marker} {_inline_text(item).strip()}")
        blocks.append("\n".join(lines))
    elif kind == "horizontal_rule":
        return
    elif kind in _BLOCKS:
        blocks.append(_inline_text(node))
    else:
        for child in node.get("content") or []:
            if isinstance(child, dict) and child.get("type") in ("text", "hard_break"):
                blocks.append(_inline_text({"content": [child]}))
            else:
                _collect_blocks(child, blocks)


def _inline_text(node: Any) -> str:
    if not isinstance(node, dict):
        return ""
    kind = node.get("type")
    if kind == "text":
        text = node.get("text")
        return text if isinstance(text, str) else ""
    if kind == "hard_break":
        return "\n"
    parts = []
    for child in node.get("content") or []:
        if isinstance(child, dict) and child.get("type") in _BLOCKS:
            parts.append("\n" + _inline_text(child))
        else:
            parts.append(_inline_text(child))
    return "".join(parts)
