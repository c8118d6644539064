"""Register tables: the peripheral registers and bit fields each firmware driver family touches, as data.

One YAML file per family in ``targets/firmware/registers/`` (``stm32f4.yaml``, ``stm32h7.yaml``, ...,
``cortex_m.yaml`` for the core's own SCB/DWT/SysTick/MPU). Every peripheral, register or field names the
vendor description it was read from (``sources``); the firmware build turns the table into ``ep_regs.h``
so driver code never spells an address or a bit position itself. ``check_against_svd`` compares a table with
a CMSIS-SVD file (the tests do that for STM32F4 with the SVD shipped in pyocd's wheel; ``python -m
edgepose.codegen.registers FAMILY SVD...`` does it for any family with the vendor's files at hand).

Field notation: ``NAME: 5`` is one bit at 5; ``NAME: [8, 4]`` is four bits from bit 8; ``NAME: {bits: 5, svd:
RXNE_RXFNE, source: [st]}`` names the field as the SVD does, or narrows its sources.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
import zipfile
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import yaml

from edgepose.errors import BoardError


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    width: int
    sources: tuple[str, ...]
    svd_name: str | None = None  # its name in the vendor's SVD, where the table uses a family-neutral one


@dataclass(frozen=True)
class Register:
    name: str
    offset: int
    fields: tuple[Field, ...]
    sources: tuple[str, ...]


@dataclass(frozen=True)
class Peripheral:
    name: str
    base: int | None  # None: a register layout shared by several instances (USART, GPIO), no address of its own
    registers: tuple[Register, ...]
    sources: tuple[str, ...]
    layout: str | None = None  # the layout this instance has (USART2 has USART's registers)
    svd_name: str | None = None  # the name of the peripheral in the vendor's SVD, where it differs


@dataclass
class RegisterTable:
    family: str
    sources: dict[str, str]  # tag -> where the vendor description came from
    peripherals: dict[str, Peripheral] = field(default_factory=dict)
    clock_gates: dict[str, dict] = field(default_factory=dict)  # instance -> {enable: REG.FIELD, bus: apb1}
    path: Path | None = None

    def gate(self, instance: str) -> tuple[str, str, str | None]:
        """(``RCC_APB1ENR`` style register, its field's mask macro) that switches ``instance``'s clock on, and
        the bus it runs from."""
        if instance not in self.clock_gates:
            raise BoardError(
                f"register table {self.family}: no clock gate for {instance} (known: {', '.join(self.clock_gates)})"
            )
        gate = self.clock_gates[instance]
        register, name = gate["enable"].split(".")
        return f"RCC_{register}", f"RCC_{register}_{name}_Msk", gate.get("bus")


def tables_dir() -> Path:
    from importlib import resources

    return Path(str(resources.files("edgepose.targets") / "firmware" / "registers"))


def families() -> list[str]:
    return sorted(p.stem for p in tables_dir().glob("*.yaml"))


@cache
def load_table(family: str) -> RegisterTable:
    path = tables_dir() / f"{family}.yaml"
    if not path.is_file():
        raise BoardError(f"no register table for the '{family}' family ({path}); families: {', '.join(families())}")
    return read_table(path)


def read_table(path: Path) -> RegisterTable:
    data = yaml.safe_load(Path(path).read_text())
    table = RegisterTable(data["family"], dict(data["sources"]), clock_gates=data.get("clock_gates") or {}, path=path)
    for name, spec in data["peripherals"].items():
        sources = _sources(spec, (), table, f"{name}")
        registers = tuple(
            _register(reg_name, reg, sources, table, f"{name}.{reg_name}")
            for reg_name, reg in (spec.get("registers") or {}).items()
        )
        base = int(spec["base"]) if "base" in spec else None
        table.peripherals[name] = Peripheral(name, base, registers, sources, spec.get("layout"), spec.get("svd"))
    for p in table.peripherals.values():
        if p.layout and p.layout not in table.peripherals:
            raise BoardError(f"{path}: {p.name} takes the layout of '{p.layout}', which the table lacks")
    rcc = {r.name: {f.name for f in r.fields} for r in table.peripherals["RCC"].registers} if table.clock_gates else {}
    for instance, gate in table.clock_gates.items():
        register, name = gate["enable"].split(".")
        if name not in rcc.get(register, ()):
            raise BoardError(f"{path}: the clock gate of {instance}, RCC.{gate['enable']}, is not in the table")
    return table


def _sources(spec: dict, inherited: tuple[str, ...], table: RegisterTable, where: str) -> tuple[str, ...]:
    tags = spec.get("source", list(inherited)) if isinstance(spec, dict) else list(inherited)
    tags = (tags,) if isinstance(tags, str) else tuple(tags)
    unknown = [t for t in tags if t not in table.sources]
    if unknown or not tags:
        raise BoardError(f"register table {table.family}: {where} names no known source ({', '.join(unknown)})")
    return tags


def _register(name: str, spec: dict, inherited, table: RegisterTable, where: str) -> Register:
    sources = _sources(spec, inherited, table, where)
    fields = []
    for field_name, bits in (spec.get("fields") or {}).items():
        field_sources = _sources(bits, sources, table, f"{where}.{field_name}")
        svd_name = bits.get("svd") if isinstance(bits, dict) else None
        bits = bits["bits"] if isinstance(bits, dict) else bits
        offset, width = (bits, 1) if isinstance(bits, int) else bits
        fields.append(Field(field_name, offset, width, field_sources, svd_name))
    return Register(name, int(spec["offset"]), tuple(fields), sources)


def header(*families: str) -> str:
    """``ep_regs.h`` for the given tables: every register as a volatile lvalue (a layout's registers as
    functions of the instance's base: ``USART_ISR(base)``), every instance's base, every field as _Pos/_Msk."""
    lines = [
        f"/* Generated by edgepose from targets/firmware/registers/{{{','.join(families)}}}.yaml: do not edit. */",
        "#ifndef EP_REGS_H",
        "#define EP_REGS_H",
        "#include <stdint.h>",
        "#define EP_REG(address) (*(volatile uint32_t *)(address))",
        "#define EP_FIELD(reg, name, value) (((uint32_t)(value) << reg##_##name##_Pos) & reg##_##name##_Msk)",
    ]
    for family in families:
        lines.append(f"/* {family} */")
        for p in load_table(family).peripherals.values():
            if p.base is not None:
                lines.append(f"#define {p.name}_BASE {p.base:#010x}u")
            for r in p.registers:
                if p.base is None:
                    lines.append(f"#define {p.name}_{r.name}(base) EP_REG((base) + {r.offset:#05x}u)")
                else:
                    lines.append(f"#define {p.name}_{r.name} EP_REG({p.name}_BASE + {r.offset:#05x}u)")
                for f in r.fields:
                    mask = (1 << f.width) - 1
                    lines.append(f"#define {p.name}_{r.name}_{f.name}_Pos {f.offset}u")
                    lines.append(f"#define {p.name}_{r.name}_{f.name}_Msk ({mask:#x}u << {f.offset}u)")
    lines.append("#endif")
    return "\n".join(lines) + "\n"


# ---- checking a table against a vendor's CMSIS-SVD file ----


def pyocd_svd(name: str) -> bytes:
    """An SVD file from the archive pyocd's wheel ships (pyocd/debug/svd/svd_data.zip)."""
    from importlib import resources

    archive = resources.files("pyocd") / "debug" / "svd" / "svd_data.zip"
    with zipfile.ZipFile(str(archive)) as z:
        return z.read(name)


def read_svd(text: bytes) -> dict[str, dict]:
    """{peripheral: {"base": int, "registers": {name: {"offset": int, "fields": {name: (offset, width)}}}}},
    with ``derivedFrom`` peripherals given their parent's registers."""
    root = ET.fromstring(text)
    found, parents = {}, {}
    for p in root.iter("peripheral"):
        name = p.findtext("name").strip()
        registers = {}
        for r in p.iter("register"):
            fields = {}
            for f in r.iter("field"):
                if f.findtext("bitOffset") is not None:
                    offset, width = int(f.findtext("bitOffset"), 0), int(f.findtext("bitWidth"), 0)
                else:  # bitRange [msb:lsb]
                    msb, lsb = f.findtext("bitRange").strip("[]").split(":")
                    offset, width = int(lsb), int(msb) - int(lsb) + 1
                fields[f.findtext("name").strip()] = (offset, width)
            registers[r.findtext("name").strip()] = {"offset": int(r.findtext("addressOffset"), 0), "fields": fields}
        found[name] = {"base": int(p.findtext("baseAddress"), 0), "registers": registers}
        if p.get("derivedFrom"):
            parents[name] = p.get("derivedFrom")
    for child, parent in parents.items():
        if not found[child]["registers"]:
            found[child]["registers"] = found[parent]["registers"]
    return found


def read_device_header(text: str, secure: bool = False) -> dict[str, dict]:
    """The same structure as ``read_svd`` from a vendor's CMSIS device header (``stm32u575xx.h``): bases from
    ``X_BASE_NS`` (or ``_S``) and the macros they are built from, register offsets from the comments of the
    ``X_TypeDef`` structs, fields from ``X_REG_FIELD_Pos``/``_Msk``. For parts whose SVD is not at hand."""
    defines = dict(re.findall(r"^#define\s+(\w+)\s+(.+?)\s*(?:/\*.*)?$", text, flags=re.M))

    def value(name: str, depth: int = 0) -> int | None:
        expr = defines.get(name)
        if expr is None or depth > 8:
            return None
        expr = re.sub(r"(0x[0-9A-Fa-f]+|\d+)U?L?", r"\1", expr)
        for token in set(re.findall(r"(?<!\w)[A-Za-z_]\w*", expr)):
            v = value(token, depth + 1)
            if v is None:
                return None
            expr = re.sub(rf"\b{token}\b", str(v), expr)
        try:
            return int(eval(expr, {"__builtins__": {}}))  # only integers, + and << remain
        except (SyntaxError, NameError, TypeError):
            return None

    layouts = {}
    for body, name in re.findall(r"typedef struct\s*\{(.*?)\}\s*(\w+)_TypeDef;", text, flags=re.S):
        registers = {}
        for reg, offset in re.findall(r"\b(\w+)(?:\[\d+\])?;\s*/\*!<[^*]*?Address offset:\s*(0x[0-9A-Fa-f]+)", body):
            registers[reg] = {"offset": int(offset, 16), "fields": {}}
        layouts[name] = registers
    for name, registers in layouts.items():
        for reg, spec in registers.items():
            for field_name in re.findall(rf"^#define\s+{name}_{reg}_(\w+)_Pos\b", text, flags=re.M):
                pos, mask = value(f"{name}_{reg}_{field_name}_Pos"), value(f"{name}_{reg}_{field_name}_Msk")
                if pos is not None and mask:
                    spec["fields"][field_name] = (pos, bin(mask >> pos).count("1"))
        if "AFR" in registers:  # GPIO's AFR[2] is AFRL and AFRH in the bit definitions
            low = registers.pop("AFR")
            for half, offset in (("AFRL", low["offset"]), ("AFRH", low["offset"] + 4)):
                registers[half] = {"offset": offset, "fields": {}}
                for field_name in re.findall(rf"^#define\s+{name}_{half}_(\w+)_Pos\b", text, flags=re.M):
                    pos = value(f"{name}_{half}_{field_name}_Pos")
                    mask = value(f"{name}_{half}_{field_name}_Msk")
                    if pos is not None and mask:
                        registers[half]["fields"][field_name] = (pos, bin(mask >> pos).count("1"))
    suffix = "_BASE_S" if secure else "_BASE_NS"
    found = {}
    for macro in defines:
        if macro.endswith(suffix):
            name = macro[: -len(suffix)]
            layout = re.sub(r"\d+$", "", name)
            base = value(macro)
            if base is not None:
                found[name] = {
                    "base": base,
                    "registers": layouts.get(name) or layouts.get(layout) or layouts.get(name.removesuffix("_R")) or {},
                }
    for name, registers in layouts.items():  # layouts by their own name (USART, GPIO), for the tables' layouts
        found.setdefault(name, {"base": None, "registers": registers})
    return found


def check_against_svd(table: RegisterTable, svd: dict[str, dict], tag: str) -> tuple[int, list[str]]:
    """Compare every entry of ``table`` that names source ``tag`` with the SVD; (entries checked, mismatches)."""
    checked, wrong = 0, []
    for p in table.peripherals.values():
        svd_p = svd.get(p.svd_name or p.name)
        if tag in p.sources:
            checked += 1
            if svd_p is None:
                wrong.append(f"{p.name}: not in the vendor's description")
                continue
            if p.base is not None and svd_p["base"] != p.base:
                wrong.append(f"{p.name}: base {p.base:#x}, vendor {_hex(svd_p['base'])}")
        for r in p.registers if svd_p else ():
            svd_r = _svd_register(svd_p, p.name, r.name)
            if tag in r.sources:
                checked += 1
                if svd_r is None:
                    wrong.append(f"{p.name}.{r.name}: not in the vendor's description")
                    continue
                if svd_r["offset"] != r.offset:
                    wrong.append(f"{p.name}.{r.name}: offset {r.offset:#x}, vendor {svd_r['offset']:#x}")
            for f in r.fields if svd_r else ():
                if tag not in f.sources:
                    continue
                checked += 1
                bits = _svd_field(svd_r["fields"], f.svd_name or f.name)
                if bits != (f.offset, f.width):
                    wrong.append(f"{p.name}.{r.name}.{f.name}: bits {(f.offset, f.width)}, vendor {bits}")
    return checked, wrong


def _svd_register(svd_p: dict, peripheral: str, register: str) -> dict | None:
    # SVDs name a register either plainly (CR) or with its peripheral (RCC_CR, GPIOA_MODER)
    registers = svd_p["registers"]
    return registers.get(register) or next(
        (v for k, v in registers.items() if k.endswith("_" + register) or k == f"{peripheral}{register}"), None
    )


def _hex(value: int | None) -> str:
    return "none" if value is None else f"{value:#x}"


def _svd_field(fields: dict, name: str) -> tuple[int, int] | None:
    """A field's (offset, width); some SVDs split a field into its bits (PLLM0...PLLM5): joined here."""
    if name in fields:
        return fields[name]
    bits = [fields[f"{name}{i}"] for i in range(32) if f"{name}{i}" in fields]
    if not bits or any(b != (bits[0][0] + i, 1) for i, b in enumerate(bits)):
        return None
    return bits[0][0], len(bits)


def main(argv: list[str]) -> int:
    """python -m edgepose.codegen.registers FAMILY TAG=FILE.svd|FILE.h ...: check a table against the vendor's
    SVDs or CMSIS device headers (the STM32N6's peripherals are used through their secure aliases)."""
    if len(argv) < 2:
        print(main.__doc__)
        return 2
    table, failed = load_table(argv[0]), False
    for item in argv[1:]:
        tag, path = item.split("=", 1)
        if path.endswith(".h"):  # a CMSIS device header; the secure aliases where the table uses them
            secure = path.endswith(":s") or "n6" in table.family
            description = read_device_header(Path(path).read_text(errors="replace"), secure=secure)
        else:
            description = read_svd(Path(path).read_bytes())
        checked, wrong = check_against_svd(table, description, tag)
        print(f"{table.family} [{tag}] {path}: {checked} entries checked, {len(wrong)} differ")
        for line in wrong:
            print("  " + line)
        failed |= bool(wrong) or not checked
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
