"""Reading a firmware ELF back (pyelftools): where its sections run and load from, its vector table, and
the board it was built for (the ``.edgepose.board`` section, kept in the file but never loaded)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from edgepose.errors import BoardError

BOARD_SECTION = ".edgepose.board"


@dataclass(frozen=True)
class Section:
    name: str
    address: int  # where it runs
    load_address: int  # where its bytes are put by the loader (differs for .data: its initial values)
    size: int
    loaded: bool  # has bytes in the file (NOBITS sections such as .bss have none)


def _open(elf: Path):
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        handle = open(elf, "rb")  # noqa: SIM115 -- ELFFile reads lazily: the caller's with-block closes it
        return handle, ELFFile(handle)
    except (OSError, ELFError) as exc:
        raise BoardError(f"{elf}: not a firmware ELF ({exc}); build one with `edgepose compile`") from None


def allocated_sections(elf: Path) -> list[Section]:
    handle, f = _open(elf)
    with handle:
        segments = [s for s in f.iter_segments() if s["p_type"] == "PT_LOAD"]
        sections = []
        for s in f.iter_sections():
            if not s["sh_flags"] & 0x2 or not s["sh_size"]:  # SHF_ALLOC
                continue
            address = s["sh_addr"]
            segment = next((g for g in segments if g["p_vaddr"] <= address < g["p_vaddr"] + g["p_memsz"]), None)
            load = segment["p_paddr"] + address - segment["p_vaddr"] if segment else address
            loaded = s["sh_type"] != "SHT_NOBITS"
            sections.append(Section(s.name, address, load if loaded else address, s["sh_size"], loaded))
        return sections


def board_name(elf: Path) -> str | None:
    """The board a firmware was built for, or None for an ELF edgepose did not build."""
    handle, f = _open(elf)
    with handle:
        section = f.get_section_by_name(BOARD_SECTION)
        return section.data().rstrip(b"\0").decode() if section is not None else None


def entry_and_vectors(elf: Path) -> tuple[int, int, int, int]:
    """(ELF entry point, vector table address, initial stack pointer, reset vector)."""
    handle, f = _open(elf)
    with handle:
        vectors = f.get_section_by_name(".text")
        data = vectors.data()
        return (
            f["e_entry"],
            vectors["sh_addr"],
            int.from_bytes(data[0:4], "little"),
            int.from_bytes(data[4:8], "little"),
        )
