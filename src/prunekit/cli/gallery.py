"""``prunekit data gallery``: one HTML page showing what a selection kept and dropped."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def gallery_cmd(
    selection: Path = typer.Argument(..., help="Selection table written by 'prunekit data select'."),
    data: Optional[Path] = typer.Option(None, "--data", help="The scored data (default: the path recorded in the selection)."),
    out: Path = typer.Option(Path("gallery.html"), "--out", "-o", help="The page to write (.html)."),
    views: Optional[Path] = typer.Option(None, "--views", help="What to show instead of the data's own text or pixels: an image folder, a saved Hugging Face data set, or a .npy of images (one per example)."),
    text_column: Optional[str] = typer.Option(None, "--text-column", help="Table data: the column holding each example's text (default: text, sentence, review, … or the only string column)."),
    title: Optional[str] = typer.Option(None, "--title", help="Page title (default: the data's file name)."),
    force: bool = typer.Option(False, "--force", help="Show a selection made on other data anyway."),
) -> None:
    """Write one self-contained page a person scrolls: dropped examples by reason with counts,
    near-duplicate groups side by side, the most and least typical examples per class (kept and
    dropped) and a 2-D map of the clusters; thumbnails for image data, snippets for text.

    Example:

        prunekit data gallery selection.parquet --data train.parquet -o gallery.html
    """
    from prunekit.cli._common import console
    from prunekit.data.gallery import write_gallery

    p = write_gallery(selection, data, out, views=views, text_column=text_column, title=title, force=force)
    console.print(f"gallery → {p}")
