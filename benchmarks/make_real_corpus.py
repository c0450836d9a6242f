"""Regenerate the real-output corpus in ``tests/fixtures/real/`` by running real programs.

Not run in CI: CI reads the committed files. Run it as root on a Debian machine with network access
to the package registries (it installs throwaway venvs and npm projects under a scratch directory and
`apt-get install`s a few small packages):

    python benchmarks/make_real_corpus.py            # every case
    python benchmarks/make_real_corpus.py --case gcc_errors --case df_h

Each case runs one shell command, records what it prints (stdout and stderr interleaved, exactly as
the program wrote them) and its exit code. The only edits made to the bytes are privacy edits:
registry host names (read from this machine's pip/npm/apt configuration, never hard-coded) become
``*.invalid`` names and the machine's host name becomes ``host``.

The questions and needles in ``CASES`` were chosen by reading the outputs. Outputs hold PIDs, times
and versions, so after a regeneration the script reports every needle that is no longer in its
output: re-read those outputs and pick the needles again.

The small inputs below (a C file with mistakes, a crate that does not compile, a test suite with
failures...) are what the programs are run on; the corpus is what the programs print about them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

BUGS_C = r"""#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct account {
    char name[32];
    long balance;
    int flags;
};

static int parse_amount(const char *text, long *out)
{
    char *end;
    long value = strtol(text, &end, 10);
    if (*end != '\0')
        return -1;
    *out = value;
}

int transfer(struct account *from, struct account *to, long amount)
{
    int unused_counter;
    if (from->balance < amount)
        return -1;
    from->balance -= amount;
    to->balance += amount;
    printf("moved %d from %s to %s\n", amount, from->name, to->name);
    return 0;
}

void copy_name(struct account *acc, const char *src)
{
    strcpy(acc->name, src, sizeof acc->name);
}

int main(int argc, char **argv)
{
    struct account a = {"alice", 100, 0};
    struct account b = {"bob", 5, 0};
    long amount;
    if (argc > 1 && parse_amount(argv[1], &amount) == 0)
        transfer(&a, &b, amount);
    unsigned int i;
    for (i = 0; i < argc; i++)
        printf("%s\n", argv[i]);
    if (a.flags = 1)
        puts("flagged");
    return undefined_total(a, b);
}
"""


def many_warnings_c(functions: int = 300) -> str:
    """A C file with ``functions`` unused-variable warnings and five real errors."""
    parts = ["#include <stdio.h>\n", "#include <string.h>\n\n"]
    for i in range(functions):
        parts.append(
            f"int handler_{i:03d}(int request)\n{{\n    int scratch_{i:03d};\n"
            f"    return request + {i};\n}}\n\n"
        )
    parts.append(
        "struct config { int retries; const char *name; };\n\n"
        "int apply_config(struct config *cfg)\n{\n"
        "    cfg->timeout = 30;\n"
        "    return cfg->retries * missing_factor;\n}\n\n"
        "int dispatch(int code)\n{\n"
        "    const char *label = code;\n"
        "    return handler_007(code, label);\n}\n\n"
        "int finish(void)\n{\n    return 0\n}\n"
    )
    return "".join(parts)


LIB_RS = r"""use std::collections::HashMap;

pub struct Inventory {
    items: HashMap<String, u32>,
    log: Vec<String>,
}

impl Inventory {
    pub fn new() -> Self {
        Inventory { items: HashMap::new(), log: Vec::new() }
    }

    pub fn add(&mut self, name: &str, count: u32) {
        let entry = self.items.entry(name.to_string()).or_insert(0);
        *entry += count;
        self.log.push(format!("add {} {}", name, count));
    }

    pub fn remove(&mut self, name: &str, count: u32) -> Result<u32, String> {
        let current = self.items.get(name).ok_or("missing item")?;
        if *current < count {
            return Err(format!("only {} left", current));
        }
        self.items.insert(name.to_string(), current - count);
        Ok(current - count)
    }

    pub fn total(&self) -> u64 {
        self.items.values().sum()
    }

    pub fn first_log(&self) -> &String {
        let copy = self.log.clone();
        &copy[0]
    }

    pub fn rename(&mut self, old: &str, new: &str) {
        let count = self.items.remove(old);
        self.items.insert(new.to_string(), count);
    }
}

fn unused_helper(x: i32) -> i32 {
    let y = x * 2;
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adds() {
        let mut inv = Inventory::new();
        inv.add("bolt", 3);
        assert_eq!(inv.total(), 3);
    }
}
"""


CALC_GO = """package calc

import (
	"errors"
	"sort"
	"strings"
)

// ErrEmpty is returned when a function needs at least one value.
var ErrEmpty = errors.New("calc: empty input")

func Sum(xs []int) int {
	total := 0
	for _, x := range xs {
		total += x
	}
	return total
}

func Mean(xs []int) (float64, error) {
	if len(xs) == 0 {
		return 0, ErrEmpty
	}
	return float64(Sum(xs)) / float64(len(xs)), nil
}

func Median(xs []int) (float64, error) {
	if len(xs) == 0 {
		return 0, ErrEmpty
	}
	s := append([]int(nil), xs...)
	sort.Ints(s)
	mid := len(s) / 2
	return float64(s[mid]), nil
}

func Slug(title string) string {
	fields := strings.Fields(strings.ToLower(title))
	return strings.Join(fields, "-")
}

func Clamp(v, lo, hi int) int {
	if v < lo {
		return lo
	}
	if v > hi {
		return lo
	}
	return v
}

func Reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
"""

CALC_TEST_GO = """package calc

import (
	"fmt"
	"testing"
)

func TestSum(t *testing.T) {
	cases := []struct {
		in   []int
		want int
	}{{nil, 0}, {[]int{1}, 1}, {[]int{1, 2, 3}, 6}, {[]int{-4, 4}, 0}}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.in), func(t *testing.T) {
			if got := Sum(c.in); got != c.want {
				t.Errorf("Sum(%v) = %d, want %d", c.in, got, c.want)
			}
		})
	}
}

func TestMean(t *testing.T) {
	got, err := Mean([]int{2, 4, 9})
	if err != nil || got != 5 {
		t.Fatalf("Mean = %v, %v", got, err)
	}
	if _, err := Mean(nil); err != ErrEmpty {
		t.Errorf("Mean(nil) error = %v, want ErrEmpty", err)
	}
}

func TestMedian(t *testing.T) {
	cases := []struct {
		in   []int
		want float64
	}{{[]int{3, 1, 2}, 2}, {[]int{5}, 5}, {[]int{4, 1, 3, 2}, 2.5}, {[]int{10, 20}, 15}}
	for _, c := range cases {
		t.Run(fmt.Sprint(c.in), func(t *testing.T) {
			got, err := Median(c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Median(%v) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestSlug(t *testing.T) {
	for in, want := range map[string]string{
		"Hello World":       "hello-world",
		"  many   spaces  ": "many-spaces",
		"Already-slugged":   "already-slugged",
	} {
		if got := Slug(in); got != want {
			t.Errorf("Slug(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestClamp(t *testing.T) {
	for _, c := range []struct{ v, lo, hi, want int }{
		{5, 0, 10, 5}, {-3, 0, 10, 0}, {42, 0, 10, 10}, {10, 0, 10, 10},
	} {
		t.Run(fmt.Sprintf("%d_in_%d_%d", c.v, c.lo, c.hi), func(t *testing.T) {
			if got := Clamp(c.v, c.lo, c.hi); got != c.want {
				t.Errorf("Clamp(%d, %d, %d) = %d, want %d", c.v, c.lo, c.hi, got, c.want)
			}
		})
	}
}

func TestReverse(t *testing.T) {
	for _, s := range []string{"", "a", "abc", "racecar", "golang"} {
		t.Run(s, func(t *testing.T) {
			if Reverse(Reverse(s)) != s {
				t.Errorf("Reverse is not an involution for %q", s)
			}
		})
	}
	if got := Reverse("héllo"); got != "olléh" {
		t.Errorf("Reverse(%q) = %q, want %q", "héllo", got, "olléh")
	}
}
"""

BROKEN_GO = """package broken

import (
	"fmt"
	"os"
	"strconv"
)

type Server struct {
	Port int
	Name string
}

func Parse(s string) Server {
	port := strconv.Atoi(s)
	return Server{Port: port, Name: s}
}

func (s Server) Addr() string {
	return fmt.Sprintf("%s:%d", s.Name)
}

func Start(s *Server) error {
	var unused int
	if s.Port == "" {
		return fmt.Errorf("no port")
	}
	return nil
}
"""

INVENTORY_PY = '''"""A tiny inventory module used to produce real pytest output."""

from __future__ import annotations

import json
from dataclasses import dataclass, field


@dataclass
class Item:
    sku: str
    name: str
    price_cents: int
    quantity: int = 0
    tags: list[str] = field(default_factory=list)


class Inventory:
    def __init__(self) -> None:
        self._items: dict[str, Item] = {}

    def add(self, item: Item) -> None:
        if item.sku in self._items:
            self._items[item.sku].quantity += item.quantity
        else:
            self._items[item.sku] = item

    def remove(self, sku: str, quantity: int) -> int:
        item = self._items[sku]
        if quantity > item.quantity:
            raise ValueError(f"cannot remove {quantity} of {sku}: only {item.quantity} left")
        item.quantity -= quantity
        return item.quantity

    def total_value(self) -> int:
        return sum(i.price_cents * i.quantity for i in self._items.values())

    def by_tag(self, tag: str) -> list[str]:
        return sorted(sku for sku, i in self._items.items() if tag in i.tags)

    def to_json(self) -> str:
        return json.dumps({s: i.__dict__ for s, i in self._items.items()}, sort_keys=True)

    def discount(self, sku: str, percent: int) -> int:
        item = self._items[sku]
        item.price_cents = item.price_cents * (100 - percent) // 100
        return item.price_cents

    def restock_report(self, threshold: int) -> list[str]:
        return [s for s, i in self._items.items() if i.quantity < threshold]
'''

TEST_INVENTORY_PY = """import json

import pytest

from inventory import Inventory, Item


@pytest.fixture
def inv():
    inv = Inventory()
    inv.add(Item("A-100", "bolt", 25, 40, ["hardware", "small"]))
    inv.add(Item("A-200", "nut", 10, 100, ["hardware", "small"]))
    inv.add(Item("B-300", "drill", 8999, 3, ["tools"]))
    inv.add(Item("C-400", "glue", 450, 12, ["adhesive"]))
    return inv


@pytest.mark.parametrize("sku,qty,left", [("A-100", 5, 35), ("A-200", 100, 0), ("B-300", 1, 2)])
def test_remove(inv, sku, qty, left):
    assert inv.remove(sku, qty) == left


def test_remove_too_many(inv):
    with pytest.raises(ValueError, match="only 3 left"):
        inv.remove("B-300", 4)


def test_remove_unknown_sku(inv):
    with pytest.raises(ValueError, match="unknown sku"):
        inv.remove("Z-999", 1)


def test_total_value(inv):
    assert inv.total_value() == 25 * 40 + 10 * 100 + 8999 * 3 + 450 * 12


def test_add_merges_quantity(inv):
    inv.add(Item("A-100", "bolt", 25, 10))
    assert inv.remove("A-100", 0) == 50


@pytest.mark.parametrize("tag,expected", [
    ("hardware", ["A-100", "A-200"]),
    ("tools", ["B-300"]),
    ("adhesive", ["C-400"]),
    ("small", ["A-100", "A-200"]),
    ("missing", []),
])
def test_by_tag(inv, tag, expected):
    assert inv.by_tag(tag) == expected


def test_to_json_is_compact(inv):
    assert ", " not in inv.to_json()


def test_to_json_roundtrip(inv):
    data = json.loads(inv.to_json())
    assert sorted(data) == ["A-100", "A-200", "B-300", "C-400"]
    assert data["B-300"]["price_cents"] == 8999


@pytest.mark.parametrize("percent,price", [(0, 8999), (10, 8099), (50, 4499), (100, 0)])
def test_discount(inv, percent, price):
    assert inv.discount("B-300", percent) == price


def test_discount_rounds_half_up(inv):
    assert inv.discount("C-400", 33) == 302


@pytest.mark.parametrize("threshold,expected", [
    (5, ["B-300"]),
    (13, ["B-300", "C-400"]),
    (41, ["A-100", "B-300", "C-400"]),
])
def test_restock_report(inv, threshold, expected):
    assert sorted(inv.restock_report(threshold)) == expected


def test_restock_report_sorted(inv):
    assert inv.restock_report(1000) == ["A-100", "A-200", "B-300", "C-400"]


def test_tags_are_not_shared():
    a = Item("X-1", "a", 1)
    b = Item("X-2", "b", 1)
    a.tags.append("red")
    assert b.tags == []


@pytest.mark.parametrize("n", range(12))
def test_many_adds(n):
    inv = Inventory()
    for i in range(n):
        inv.add(Item(f"S-{i}", "thing", 100, 1))
    assert inv.total_value() == 100 * n
"""

APP_PY = '''"""A small but real FastAPI app whose OpenAPI document goes into the corpus."""

from __future__ import annotations

import json
import sys
from datetime import datetime
from enum import Enum

from fastapi import FastAPI, HTTPException, Query
from pydantic import BaseModel, Field

app = FastAPI(title="Warehouse API", version="2.3.0", description="Stock, orders and shipments.")


class Status(str, Enum):
    pending = "pending"
    packed = "packed"
    shipped = "shipped"
    cancelled = "cancelled"


class Item(BaseModel):
    sku: str = Field(pattern=r"^[A-Z]-[0-9]{3}$", description="Stock keeping unit")
    name: str
    price_cents: int = Field(ge=0)
    quantity: int = 0
    tags: list[str] = []


class OrderLine(BaseModel):
    sku: str
    quantity: int = Field(gt=0)


class Order(BaseModel):
    id: int
    customer_id: int
    lines: list[OrderLine]
    status: Status = Status.pending
    created_at: datetime
    note: str | None = None


class Shipment(BaseModel):
    id: int
    order_id: int
    carrier: str
    tracking_number: str
    shipped_at: datetime | None = None


class Customer(BaseModel):
    id: int
    email: str
    name: str
    vip: bool = False


class Page(BaseModel):
    total: int
    offset: int
    limit: int


class ItemPage(Page):
    items: list[Item]


class OrderPage(Page):
    orders: list[Order]


@app.get("/items", response_model=ItemPage, tags=["stock"])
def list_items(tag: str | None = None, offset: int = 0, limit: int = Query(50, le=500)):
    """List stock items, optionally filtered by tag."""
    raise HTTPException(501)


@app.post("/items", response_model=Item, status_code=201, tags=["stock"])
def create_item(item: Item):
    """Create a stock item."""
    return item


@app.get("/items/{sku}", response_model=Item, tags=["stock"])
def get_item(sku: str):
    """Fetch one item by SKU."""
    raise HTTPException(404)


@app.put("/items/{sku}", response_model=Item, tags=["stock"])
def replace_item(sku: str, item: Item):
    """Replace an item."""
    return item


@app.delete("/items/{sku}", status_code=204, tags=["stock"])
def delete_item(sku: str):
    """Delete an item that has no open orders."""


@app.post("/items/{sku}/restock", response_model=Item, tags=["stock"])
def restock(sku: str, quantity: int = Query(gt=0)):
    """Add units to an item's stock."""
    raise HTTPException(404)


@app.get("/orders", response_model=OrderPage, tags=["orders"])
def list_orders(status: Status | None = None, customer_id: int | None = None, offset: int = 0,
                limit: int = 50):
    """List orders."""
    raise HTTPException(501)


@app.post("/orders", response_model=Order, status_code=201, tags=["orders"])
def create_order(lines: list[OrderLine], customer_id: int, note: str | None = None):
    """Place an order."""
    raise HTTPException(501)


@app.get("/orders/{order_id}", response_model=Order, tags=["orders"])
def get_order(order_id: int):
    """Fetch an order."""
    raise HTTPException(404)


@app.post("/orders/{order_id}/cancel", response_model=Order, tags=["orders"])
def cancel_order(order_id: int, reason: str = Query(min_length=3)):
    """Cancel an order that has not shipped yet."""
    raise HTTPException(409)


@app.get("/orders/{order_id}/shipments", response_model=list[Shipment], tags=["shipping"])
def order_shipments(order_id: int):
    """Shipments of one order."""
    return []


@app.post("/shipments", response_model=Shipment, status_code=201, tags=["shipping"])
def create_shipment(shipment: Shipment):
    """Record a shipment."""
    return shipment


@app.get("/customers/{customer_id}", response_model=Customer, tags=["customers"])
def get_customer(customer_id: int):
    """Fetch a customer."""
    raise HTTPException(404)


@app.get("/customers/{customer_id}/orders", response_model=OrderPage, tags=["customers"])
def customer_orders(customer_id: int, offset: int = 0, limit: int = 50):
    """Orders of one customer."""
    raise HTTPException(501)


@app.get("/health", tags=["ops"])
def health() -> dict[str, str]:
    """Liveness probe."""
    return {"status": "ok"}


if __name__ == "__main__":
    json.dump(app.openapi(), sys.stdout, indent=2)
    sys.stdout.write("\\n")
'''

ESLINT_CONFIG = """const js = require("@eslint/js");
module.exports = [
  js.configs.recommended,
  {
    languageOptions: { ecmaVersion: 2015, sourceType: "commonjs" },
    rules: { "no-var": "warn", "prefer-const": "warn", "eqeqeq": "warn", "no-unused-vars": "warn" },
  },
];
"""

BROKEN_TS = """interface User {
  id: number;
  name: string;
  email?: string;
}

export function greet(user: User): string {
  return "Hello, " + user.nmae;
}

export function byId(users: User[], id: string): User | undefined {
  return users.find((u) => u.id === id);
}

export async function load(url: string): Promise<User[]> {
  const res = await fetch(url);
  const data: User[] = res.json();
  return data.map((u) => ({ ...u, email: u.email.toLowerCase() }));
}

const admins: User[] = [{ id: 1, name: "root", role: "admin" }];
let count: number = "3";
greet({ id: 2 });
"""

# --------------------------------------------------------------------------------------------
# The driver
# --------------------------------------------------------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "real"
WORK = Path("/tmp/headroom_real_corpus")
DEV_BIN = ROOT / ".venv" / "bin"  # mypy, ruff and pytest come from the project's dev install
MAX_BYTES = 2_000_000

# Pass on only what the tools need (certificates, pip settings, toolchains); nothing else.
_KEEP_ENV = re.compile(r"^(HOME|LANG|PIP_\w+|\w*CA_\w*|\w*CERT\w*|RUSTUP_\w+|DEBIAN_FRONTEND)$")


def tool_env(extra_path: list[Path] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if _KEEP_ENV.match(k)}
    path = [str(p) for p in (extra_path or [])]
    path += ["/root/.cargo/bin", "/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
    env.update(
        PATH=":".join(path),
        LANG="C.UTF-8",
        TERM="xterm-256color",
        COLUMNS="120",
        DEBIAN_FRONTEND="noninteractive",
        GOFLAGS="-mod=mod",
        GOPROXY="off",
        GOTOOLCHAIN="local",
        GOCACHE=str(WORK / "gocache"),
        GOPATH=str(WORK / "gopath"),
        NO_UPDATE_NOTIFIER="1",
    )
    return env


def sh(
    command: str, cwd: Path = WORK, check: bool = True, env: dict[str, str] | None = None
) -> None:
    """Run a preparation step (its output is not part of the corpus)."""
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=env or tool_env([WORK / "bin"]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    if check and done.returncode != 0:
        sys.stderr.write(done.stdout.decode(errors="replace")[-3000:])
        raise SystemExit(f"preparation failed: {command}")


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


# ---- preparation steps, each run at most once per invocation --------------------------------


def prep_venv() -> None:
    sh(f"rm -rf venv && {sys.executable} -m venv venv")


def prep_venv_vv() -> None:
    sh(f"rm -rf venv2 && {sys.executable} -m venv venv2")


def prep_venv_tools() -> None:
    prep("venv_fastapi")
    sh("venv/bin/pip install -q pipdeptree")


def prep_npm_express() -> None:
    sh("rm -rf npm-express && mkdir npm-express && cd npm-express && npm init -y")


def prep_npm_silly() -> None:
    sh("rm -rf npm-silly && mkdir npm-silly && cd npm-silly && npm init -y")


def prep_ts() -> None:
    prep("npm_express_installed")
    sh("rm -rf ts && mkdir ts && cd ts && npm init -y && npm install -q typescript@5")
    write(WORK / "ts" / "src" / "users.ts", BROKEN_TS)
    sh("cp -r ../npm-express/node_modules/express/lib express-lib", cwd=WORK / "ts")


def prep_npm_express_installed() -> None:
    if not (WORK / "npm-express" / "node_modules" / "express").exists():
        prep("npm_express")
        sh("npm install -q express@4", cwd=WORK / "npm-express")


def prep_eslint() -> None:
    prep("npm_express_installed")
    sh(
        "rm -rf eslint && mkdir eslint && cd eslint && npm init -y && npm install -q eslint@9 @eslint/js@9"
    )
    write(WORK / "eslint" / "eslint.config.js", ESLINT_CONFIG)
    sh("mkdir -p src", cwd=WORK / "eslint")
    for pkg in ("express", "body-parser", "send", "serve-static", "finalhandler", "qs"):
        sh(f"cp -r ../npm-express/node_modules/{pkg} src/{pkg}", cwd=WORK / "eslint")


def prep_c() -> None:
    write(WORK / "c" / "bugs.c", BUGS_C)
    write(WORK / "c" / "many.c", many_warnings_c())


def prep_crate() -> None:
    write(
        WORK / "crate" / "Cargo.toml",
        '[package]\nname = "inventory"\nversion = "0.1.0"\nedition = "2021"\n\n[dependencies]\n',
    )
    write(WORK / "crate" / "src" / "lib.rs", LIB_RS)
    sh("rm -rf crate/target")


def prep_go() -> None:
    write(WORK / "go" / "calc" / "go.mod", "module example.com/calc\n\ngo 1.19\n")
    write(WORK / "go" / "calc" / "calc.go", CALC_GO)
    write(WORK / "go" / "calc" / "calc_test.go", CALC_TEST_GO)
    write(WORK / "go" / "broken" / "go.mod", "module example.com/broken\n\ngo 1.19\n")
    write(WORK / "go" / "broken" / "broken.go", BROKEN_GO)


def prep_py() -> None:
    write(WORK / "py" / "inventory.py", INVENTORY_PY)
    write(WORK / "py" / "test_inventory.py", TEST_INVENTORY_PY)


def prep_lint() -> None:
    site = next((ROOT / ".venv" / "lib").glob("python3*/site-packages"))
    (WORK / "lint").mkdir(parents=True, exist_ok=True)
    for name in ("jsonpatch.py", "jsonpointer.py"):
        shutil.copy(site / name, WORK / "lint" / name)
    sh(f"rm -rf lint/requests && cp -r {site / 'requests'} lint/requests")


def prep_app() -> None:
    prep("venv_fastapi")
    write(WORK / "app" / "app.py", APP_PY)


def prep_venv_fastapi() -> None:
    if not (WORK / "venv" / "bin" / "fastapi").exists() and not _has(WORK / "venv", "fastapi"):
        prep("venv")
        sh("venv/bin/pip install -q fastapi")


def _has(venv: Path, package: str) -> bool:
    return any(venv.glob(f"lib/python3*/site-packages/{package}"))


def prep_git() -> None:
    sh("rm -rf repo && git clone -q /work/main repo")
    git = (
        "git -c user.name='Corpus Bot' -c user.email=corpus@example.invalid -c commit.gpgsign=false"
    )
    write(
        WORK / "repo" / "docs" / "RELEASING.md",
        "# Releasing\n\n1. Bump the version in pyproject.toml.\n2. Tag the commit.\n"
        "3. Run the benchmarks and paste the table into the release notes.\n",
    )
    message = (
        "docs: release checklist\n\nHow we cut a release.\n\n---\n"
        "Reviewed-by: release team\nThe line above is a YAML-style separator, not a diff.\n"
    )
    write(WORK / "msg.txt", message)
    sh(
        f"git add docs/RELEASING.md && GIT_AUTHOR_DATE='2026-01-05T10:00:00Z' "
        f"GIT_COMMITTER_DATE='2026-01-05T10:00:00Z' {git} commit -q -F ../msg.txt",
        cwd=WORK / "repo",
    )


def prep_sqlite() -> None:
    sh(
        "rm -f pkgs.db && dpkg-query -W -f='${Package}\\t${Version}\\t${Installed-Size}\\t"
        "${Section}\\t${Priority}\\n' > pkgs.tsv && sqlite3 pkgs.db "
        "'create table pkg(name text, version text, size_kb integer, section text, priority text)'"
        " '.mode tabs' '.import pkgs.tsv pkg'"
    )


def prep_encodings() -> None:
    sh(
        "mkdir -p enc && grep -rhI 'é\\|ü\\|ö\\|ñ' /usr/share/doc/*/copyright | head -n 80 "
        "> enc/authors-utf8.txt && iconv -f UTF-8 -t LATIN1//TRANSLIT enc/authors-utf8.txt "
        "> enc/authors-latin1.txt"
    )


def prep_fresh_dl() -> None:
    sh("rm -rf dl")  # else pip finds the file from the last run and shows no progress bar


def prep_pydoc() -> None:
    sh("mkdir -p html")


PREPS: dict[str, Callable[[], None]] = {
    name[len("prep_") :]: fn for name, fn in globals().items() if name.startswith("prep_")
}
_prepared: set[str] = set()


def prep(name: str) -> None:
    if name not in _prepared:
        _prepared.add(name)
        PREPS[name]()


# ---- the cases -----------------------------------------------------------------------------


@dataclass
class Case:
    id: str
    family: str
    program: str
    command: str
    question: str
    needles: list[str] = field(default_factory=list)
    cwd: str = ""  # relative to WORK
    prep: tuple[str, ...] = ()
    is_code: bool = False
    tool_name: str = "Bash"
    ext: str = "txt"


def run_case(case: Case) -> tuple[bytes, int]:
    for name in case.prep:
        prep(name)
    cwd = WORK / case.cwd
    cwd.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["bash", "-c", case.command],
        cwd=cwd,
        env=tool_env([DEV_BIN]),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        timeout=900,
    )
    return done.stdout, done.returncode


def registry_hosts() -> dict[str, str]:
    """Host names of the package registries this machine uses, read from its configuration."""
    hosts: dict[str, str] = {}
    npm = subprocess.run(["npm", "config", "get", "registry"], capture_output=True, text=True)
    if npm.stdout.strip():
        hosts[urlsplit(npm.stdout.strip()).hostname or ""] = "npm-registry.invalid"
    pypi = subprocess.run(
        [
            sys.executable,
            "-c",
            "from pip._internal.models.index import PyPI as p; print(p.netloc); "
            "print(p.file_storage_domain)",
        ],
        capture_output=True,
        text=True,
    )
    names = pypi.stdout.split()
    if len(names) == 2:
        hosts[names[0]] = "pypi-index.invalid"
        hosts[names[1]] = "pypi-files.invalid"
    apt_text = ""
    for source in [Path("/etc/apt/sources.list"), *Path("/etc/apt/sources.list.d").glob("*")]:
        if source.is_file():
            apt_text += source.read_text(errors="replace")
    for i, url in enumerate(sorted(set(re.findall(r"https?://([A-Za-z0-9.-]+)", apt_text)))):
        hosts.setdefault(url, f"apt-mirror{i}.invalid")
    hosts.pop("", None)
    return hosts


def scrub(data: bytes, hosts: dict[str, str]) -> bytes:
    """Privacy edits only: registry host names and this machine's host name."""
    for host, alias in sorted(hosts.items(), key=lambda kv: -len(kv[0])):
        data = data.replace(host.encode(), alias.encode())
    name = socket.gethostname()
    if len(name) >= 4:
        data = data.replace(name.encode(), b"host")
    return data


SITE = "venv/lib/python3.11/site-packages"

CASES: list[Case] = [
    # ---- package managers at verbose levels
    Case(
        "pip_install_v",
        "package-manager",
        "pip",
        "venv/bin/pip install -v 'fastapi[standard]'",
        "Which version of pydantic did pip install alongside fastapi, and did it build anything from source?",
        prep=("venv",),
    ),
    Case(
        "pip_install_vv",
        "package-manager",
        "pip",
        "venv2/bin/pip install -vv --no-cache-dir attrs",
        "Which attrs wheel file did pip end up installing?",
        prep=("venv_vv",),
    ),
    Case(
        "npm_install_verbose",
        "package-manager",
        "npm",
        "npm install --loglevel verbose express@4",
        "Which version of express was added, and how many packages were installed?",
        cwd="npm-express",
        prep=("npm_express",),
    ),
    Case(
        "npm_install_silly",
        "package-manager",
        "npm",
        "npm install --loglevel silly express@4",
        "Which version of `ms` did npm resolve for debug?",
        cwd="npm-silly",
        prep=("npm_silly",),
    ),
    Case(
        "apt_install_y",
        "package-manager",
        "apt-get",
        "apt-get install -y --reinstall tree",
        "Which version of tree was set up?",
    ),
    Case(
        "apt_install_s",
        "package-manager",
        "apt-get",
        "apt-get install -s texlive-latex-base",
        "How many new packages would installing texlive-latex-base pull in, and which version of texlive-base?",
    ),
    Case(
        "apt_list_installed",
        "system-table",
        "apt",
        "apt list --installed",
        "Which version of libssl3 is installed?",
    ),
    Case(
        "dpkg_l",
        "system-table",
        "dpkg",
        "dpkg -l",
        "Which version of the openssh client package is installed?",
    ),
    # ---- compilers
    Case(
        "gcc_errors",
        "compiler",
        "gcc",
        "gcc -Wall -Wextra -c bugs.c -o /dev/null",
        "Why does bugs.c fail to compile?",
        cwd="c",
        prep=("c",),
    ),
    Case(
        "gcc_many_warnings",
        "compiler",
        "gcc",
        "gcc -Wall -Wextra -c many.c -o /dev/null",
        "What are the errors in many.c (ignore the unused variables)?",
        cwd="c",
        prep=("c",),
    ),
    Case(
        "gcc_color",
        "bad-input",
        "gcc",
        "gcc -fdiagnostics-color=always -Wall -Wextra -c bugs.c -o /dev/null",
        "Which line calls strcpy with too many arguments?",
        cwd="c",
        prep=("c",),
    ),
    Case(
        "clang_errors",
        "compiler",
        "clang",
        "clang -Wall -Wextra -c bugs.c -o /dev/null",
        "What errors does clang report for bugs.c?",
        cwd="c",
        prep=("c",),
    ),
    Case(
        "clang_many_warnings",
        "compiler",
        "clang",
        "clang -Wall -Wextra -c many.c -o /dev/null",
        "Which errors stop many.c from compiling with clang?",
        cwd="c",
        prep=("c",),
    ),
    Case(
        "cargo_build_errors",
        "compiler",
        "cargo",
        "cargo build",
        "Why does the inventory crate fail to build?",
        cwd="crate",
        prep=("crate",),
    ),
    Case(
        "cargo_json",
        "compiler",
        "cargo",
        "cargo build --message-format=json",
        "Which line of src/lib.rs has the borrow error E0502?",
        cwd="crate",
        prep=("crate",),
    ),
    Case(
        "rustc_errors",
        "compiler",
        "rustc",
        "rustc --edition 2021 --crate-type lib --color always src/lib.rs -o /tmp/libinventory.rlib",
        "What type mismatch does rustc report in rename?",
        cwd="crate",
        prep=("crate",),
    ),
    Case(
        "tsc_checkjs",
        "compiler",
        "tsc",
        "npx tsc --allowJs --checkJs --noEmit --target es2020 --module commonjs express-lib/*.js",
        "Where in express's response.js does tsc fail to find the name 'ServerResponse'?",
        cwd="ts",
        prep=("ts",),
    ),
    Case(
        "tsc_errors",
        "compiler",
        "tsc",
        "npx tsc --noEmit --strict --target es2020 src/users.ts",
        "What does tsc say is wrong in users.ts?",
        cwd="ts",
        prep=("ts",),
    ),
    Case(
        "go_build_errors",
        "compiler",
        "go",
        "go build ./...",
        "Why does the broken package not build?",
        cwd="go/broken",
        prep=("go",),
    ),
    # ---- linters and type checkers
    Case(
        "mypy_strict",
        "linter",
        "mypy",
        "mypy --strict --no-incremental jsonpatch.py jsonpointer.py",
        "How many errors does mypy find, and what does it report at jsonpointer.py line 88?",
        cwd="lint",
        prep=("lint",),
    ),
    Case(
        "mypy_requests",
        "linter",
        "mypy",
        "mypy --strict --no-incremental --ignore-missing-imports requests",
        "How many errors does mypy report overall, and what is wrong at requests/sessions.py line 23?",
        cwd="lint",
        prep=("lint",),
    ),
    Case(
        "ruff_full",
        "linter",
        "ruff",
        "ruff check --no-cache --select ALL --output-format full jsonpatch.py",
        "Where does ruff report functions with too many arguments (PLR0913)?",
        cwd="lint",
        prep=("lint",),
    ),
    Case(
        "ruff_concise",
        "linter",
        "ruff",
        "ruff check --no-cache --select E,F,W,B,UP,SIM --output-format concise requests",
        "What does ruff flag at requests/utils.py line 1151?",
        cwd="lint",
        prep=("lint",),
    ),
    Case(
        "eslint",
        "linter",
        "eslint",
        "npx eslint src",
        "Which eslint errors (not warnings) are reported in express's router/index.js?",
        cwd="eslint",
        prep=("eslint",),
    ),
    # ---- version control
    Case(
        "git_log",
        "vcs",
        "git",
        "git log",
        "When was the commit about the search heading lines made?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_log_stat",
        "vcs",
        "git",
        "git log --stat -n 40",
        "Which files did the release checklist commit touch?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_log_p",
        "vcs",
        "git",
        "git log -p -n 12 -- headroom",
        "What changed in headroom/cache_align.py in the most recent commits?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_log_p_big",
        "vcs",
        "git",
        "git log -p -n 25",
        "Which commit added tests/fixtures/kubectl_pods.json, and what does its message say?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_diff",
        "vcs",
        "git",
        "git diff HEAD~20 HEAD -- headroom/router.py headroom/compressors",
        "How did the router's classification of diagnostics change?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_blame",
        "vcs",
        "git",
        "git blame headroom/router.py",
        "Which commit last changed the JSON Lines routing in router.py?",
        cwd="repo",
        prep=("git",),
    ),
    Case(
        "git_log_tsv",
        "table",
        "git",
        "git log --date=short --pretty=format:'%h%x09%ad%x09%an%x09%s' --shortstat",
        "Which commit inserted the most lines, and how many?",
        cwd="repo",
        prep=("git",),
    ),
    # ---- system tables
    Case(
        "ps_table",
        "system-table",
        "ps",
        "ps -eo user,pid,ppid,%cpu,%mem,vsz,rss,tty,stat,start,time,comm --sort=-rss",
        "Which process uses the most memory, and what is its PID?",
    ),
    Case(
        "top_batch",
        "system-table",
        "top",
        "top -b -n 1 -w 160",
        "How much memory is free, and how many tasks are running?",
    ),
    Case(
        "df_h",
        "system-table",
        "df",
        "df -hT / /dev /dev/shm /sys/fs/cgroup",
        "How full is the root filesystem?",
    ),
    Case(
        "ss_tan",
        "system-table",
        "ss",
        # In a private network namespace with a few loopback servers and clients, so the
        # table shows real sockets without this machine's own addresses.
        "unshare -n bash -c 'ip link set lo up; for p in 8000 8080 5432 6379; do "
        "python3 -m http.server -b 127.0.0.1 $p >/dev/null 2>&1 & done; sleep 2; "
        "for i in 1 2 3 4 5 6 7 8; do (exec 3<>/dev/tcp/127.0.0.1/8080; sleep 4) & done; "
        "sleep 1; ss -tan; kill $(jobs -p)'",
        "Which ports are in LISTEN state, and how many connections are established to 8080?",
    ),
    Case(
        "lsblk",
        "system-table",
        "lsblk",
        "lsblk -o NAME,SIZE,TYPE,FSTYPE,MOUNTPOINTS,RO",
        "Which block device is mounted on /?",
    ),
    Case("pip_list", "system-table", "pip", "pip list", "Which version of pydantic is installed?"),
    Case(
        "ls_laR",
        "listing",
        "ls",
        "ls -laR /usr/lib/python3.11/email /usr/lib/python3.11/json",
        "How big is email/_header_value_parser.py?",
    ),
    Case(
        "find_py",
        "listing",
        "find",
        "find /usr/lib/python3.11 -name '*.py'",
        "Where is asyncio's base_events.py?",
    ),
    Case(
        "ls_laR_doc",
        "listing",
        "ls",
        "ls -laR /usr/share/doc",
        "When was the changelog of libsqlite3-0 last modified, and how big is it?",
    ),
    Case(
        "python_importtime",
        "log",
        "python3",
        "python3 -X importtime -c 'import asyncio, json, email.mime.text'",
        "Which module takes the longest cumulative time to import?",
    ),
    Case(
        "grep_rn",
        "search",
        "grep",
        "grep -rn 'import re' /usr/lib/python3.11 --include=*.py",
        "On which line does email/utils.py import re?",
    ),
    Case(
        "tree_doc",
        "listing",
        "tree",
        "tree -L 2 /usr/share/doc/git",
        "Where does the contrib hooks directory of git's docs point to?",
    ),
    Case(
        "pip_show_files",
        "listing",
        "pip",
        "pip show -f requests",
        "Where is requests installed, and does it ship adapters.py?",
    ),
    # ---- structured data from registries and tools
    Case(
        "npm_view_json",
        "json",
        "npm",
        "npm view express --json",
        "What is the tarball integrity of the latest express release?",
    ),
    Case(
        "npm_view_range",
        "json",
        "npm",
        "npm view 'express@>=4.17.0 <5' --json",
        "Which Node.js versions does express 4.17.1 declare in engines, and what is its tarball shasum?",
    ),
    Case(
        "npm_view_versions",
        "json",
        "npm",
        "npm view typescript versions --json",
        "Is typescript 4.9.5 published?",
    ),
    Case(
        "npm_view_time",
        "json",
        "npm",
        "npm view react time --json",
        "When was react 16.8.0 published?",
    ),
    Case(
        "pip_index_versions",
        "package-manager",
        "pip",
        "pip index versions numpy",
        "Which numpy versions are available, and is 1.26.4 among them?",
    ),
    Case(
        "pip_inspect",
        "json",
        "pip",
        "venv/bin/pip inspect",
        "Which version of starlette is installed in the venv?",
        prep=("venv_fastapi",),
    ),
    Case(
        "pip_list_json",
        "json",
        "pip",
        "pip list --format=json",
        "Which version of hypothesis is installed?",
    ),
    Case(
        "npm_ls_json",
        "json",
        "npm",
        "npm ls --all --json",
        "Which version of qs does body-parser depend on?",
        cwd="npm-express",
        prep=("npm_express_installed",),
    ),
    Case(
        "pipdeptree",
        "dependency-report",
        "pipdeptree",
        "venv/bin/pipdeptree",
        "Which packages does fastapi require, with what constraints?",
        prep=("venv_tools",),
    ),
    Case(
        "pipdeptree_json",
        "json",
        "pipdeptree",
        "venv/bin/pipdeptree --json-tree",
        "Which version of annotated-types does pydantic pull in?",
        prep=("venv_tools",),
    ),
    Case(
        "openapi_spec",
        "json",
        "python",
        "../venv/bin/python app.py",
        "Which parameters does the cancel order endpoint take?",
        cwd="app",
        prep=("app",),
    ),
    Case(
        "sqlite_csv",
        "table",
        "sqlite3",
        "sqlite3 -csv -header pkgs.db 'select name, version, size_kb, section from pkg order by size_kb desc'",
        "How large are the installed clang and clang-14 packages?",
        prep=("sqlite",),
    ),
    Case(
        "dpkg_query_tsv",
        "table",
        "dpkg-query",
        "dpkg-query -W -f='${Package}\\t${Version}\\t${Architecture}\\t${Installed-Size}\\n'",
        "Which version of libsqlite3-0 is installed?",
    ),
    # ---- test runners
    Case(
        "pytest_v",
        "test-runner",
        "pytest",
        "python -m pytest -v -p no:cacheprovider",
        "Which tests fail and why?",
        cwd="py",
        prep=("py",),
    ),
    Case(
        "pytest_color",
        "bad-input",
        "pytest",
        "python -m pytest -v --color=yes -p no:cacheprovider -k 'discount or remove'",
        "Which discount test fails?",
        cwd="py",
        prep=("py",),
    ),
    Case(
        "go_test_v",
        "test-runner",
        "go",
        "go test -v ./...",
        "Which Go tests fail?",
        cwd="go/calc",
        prep=("go",),
    ),
    Case(
        "go_test_json",
        "test-runner",
        "go",
        "go test -json ./...",
        "Which subtests of TestClamp fail?",
        cwd="go/calc",
        prep=("go",),
    ),
    # ---- logs
    Case(
        "dpkg_log",
        "log",
        "cat",
        "cat /var/log/dpkg.log",
        "When was clang installed, and at which version?",
    ),
    Case(
        "apt_term_log",
        "log",
        "tail",
        "tail -n 1500 /var/log/apt/term.log",
        "Did anything fail while setting up packages in the last apt runs?",
    ),
    Case(
        "strace_file",
        "log",
        "strace",
        "strace -f -e trace=openat,stat,newfstatat python3 -c 'import json, csv'",
        "Where does python load csv.py from?",
    ),
    # ---- docs and source
    Case(
        "markdown_readme",
        "markdown",
        "python",
        "venv/bin/python -c \"import importlib.metadata as m; print(m.metadata('fastapi').get_payload())\"",
        "How do I run a FastAPI app in development mode?",
        prep=("venv_fastapi",),
    ),
    Case(
        "markdown_rich",
        "markdown",
        "python",
        "python -c \"import importlib.metadata as m; print(m.metadata('rich').get_payload())\"",
        "How do I install rich, and which Python versions does it support?",
    ),
    Case(
        "pydoc_html",
        "html",
        "pydoc",
        "python3 -m pydoc -w argparse >/dev/null && cat argparse.html",
        "What is the signature of ArgumentParser.parse_known_args?",
        cwd="html",
        prep=("pydoc",),
    ),
    Case(
        "source_python",
        "source",
        "cat",
        f"cat {SITE}/fastapi/routing.py",
        "Where does FastAPI validate the response model?",
        is_code=True,
        prep=("venv_fastapi",),
    ),
    Case(
        "source_js",
        "source",
        "cat",
        "cat node_modules/express/lib/response.js",
        "How does res.redirect build the location?",
        cwd="npm-express",
        is_code=True,
        prep=("npm_express_installed",),
    ),
    Case(
        "source_go",
        "source",
        "cat",
        "cat /usr/lib/go/src/strings/strings.go",
        "How does strings.Fields handle ASCII input?",
        is_code=True,
    ),
    # ---- bad input, produced for real
    Case(
        "ls_color",
        "bad-input",
        "ls",
        "ls -la --color=always /usr/bin",
        "Where does the pdb3.11 symlink in /usr/bin point?",
    ),
    Case(
        "grep_color",
        "bad-input",
        "grep",
        "grep -rn --color=always 'def ' /usr/lib/python3.11/json",
        "Where is JSONDecoder.raw_decode defined?",
    ),
    Case(
        "pip_progress_pty",
        "bad-input",
        "pip",
        "script -qfec 'venv/bin/pip download --no-deps --no-cache-dir --progress-bar on -d dl pyarrow==24.0.0' /dev/null",
        "Did the pyarrow download finish, and which file was saved?",
        prep=("venv", "fresh_dl"),
    ),
    Case(
        "dd_progress",
        "bad-input",
        "dd",
        "dd if=/dev/urandom of=/dev/null bs=1M count=1500 status=progress",
        "How many bytes did dd copy and how fast?",
    ),
    Case(
        "curl_progress",
        "bad-input",
        "curl",
        "curl --limit-rate 25M -o /dev/null file:///usr/lib/x86_64-linux-gnu/libLLVM-14.so.1",
        "How large was the file curl copied?",
    ),
    Case(
        "binary_head",
        "bad-input",
        "head",
        "head -c 6000 /usr/bin/ls",
        "Is /usr/bin/ls an ELF binary?",
    ),
    Case(
        "xxd_dump",
        "bad-input",
        "xxd",
        "xxd -l 8192 /usr/bin/true",
        "What is at offset 0x00000040 in /usr/bin/true?",
    ),
    Case(
        "mixed_encoding",
        "bad-input",
        "tail",
        "tail -n 40 enc/authors-latin1.txt enc/authors-utf8.txt",
        "Who is listed with an accented name?",
        prep=("encodings",),
    ),
]


# Needles: what an answer to each question needs, read from the outputs as generated.
NEEDLES: dict[str, list[str]] = {
    "pip_install_v": ["Downloading pydantic-2.14.4-py3-none-any.whl", "Successfully installed"],
    "pip_install_vv": [
        "Processing /opt/pypi/files/attrs-26.1.0-py3-none-any.whl",
        "Successfully installed attrs-26.1.0",
    ],
    "npm_install_verbose": ["express-4.22.3.tgz", "added 71 packages"],
    "npm_install_silly": ["ms@2.0.0 OK for: debug@2.6.9"],
    "apt_install_y": ["Setting up tree (2.1.0-1)"],
    "apt_install_s": ["81 newly installed", "Inst texlive-base (2022.20230122-3"],
    "apt_list_installed": ["libssl3/now 3.0.19-1~deb12u2 amd64"],
    "dpkg_l": ["openssh-client", "1:9.2p1-2+deb12u6"],
    "gcc_errors": [
        "error: too many arguments to function ‘strcpy’",
        "strcpy(acc->name, src, sizeof acc->name);",
    ],
    "gcc_many_warnings": [
        "error: ‘struct config’ has no member named ‘timeout’",
        "error: ‘missing_factor’ undeclared",
        "error: too many arguments to function ‘handler_007’",
        "error: expected ‘;’ before ‘}’ token",
    ],
    "gcc_color": ["bugs.c:33:5:", "too many arguments to function"],
    "clang_errors": [
        "bugs.c:33:28: error: too many arguments to function call, expected 2, have 3"
    ],
    "clang_many_warnings": [
        "error: no member named 'timeout' in 'struct config'",
        "error: use of undeclared identifier 'missing_factor'",
        "many.c:1815:30: error: too many arguments to function call",
        "error: expected ';' after return statement",
    ],
    "cargo_build_errors": [
        "error[E0277]: a value of type `u64` cannot be made by summing an iterator",
        "error[E0308]: mismatched types",
        "error[E0502]: cannot borrow `self.items` as mutable",
        "error[E0515]: cannot return value referencing local variable `copy`",
    ],
    "cargo_json": ["error[E0502]: cannot borrow `self.items` as mutable", "src/lib.rs:24:9"],
    "rustc_errors": ["src/lib.rs:39:44", "expected `u32`, found `Option<u32>`"],
    "tsc_checkjs": [
        "express-lib/response.js(63,13): error TS2304: Cannot find name 'ServerResponse'.",
        "express-lib/response.js(86,13): error TS2304: Cannot find name 'ServerResponse'.",
    ],
    "tsc_errors": [
        "Property 'nmae' does not exist on type 'User'.",
        "src/users.ts(22,5): error TS2322: Type 'string' is not assignable to type 'number'.",
    ],
    "go_build_errors": [
        "assignment mismatch: 1 variable but strconv.Atoi returns 2 values",
        'imported and not used: "os"',
    ],
    "mypy_strict": [
        "Found 352 errors in 2 files",
        "jsonpointer.py:88: error: Function is missing a type annotation",
    ],
    "mypy_requests": [
        "Found 148 errors in 14 files",
        'requests/sessions.py:23: error: Module "requests.compat" does not explicitly export '
        'attribute "cookielib"',
    ],
    "ruff_full": ["jsonpatch.py:1030:9", "jsonpatch.py:1194:9", "jsonpatch.py:1214:9"],
    "ruff_concise": ["requests/utils.py:1151:13: B904"],
    "eslint": [
        "src/express/lib/router/index.js",
        "Expected a conditional expression and instead saw an assignment",
        "'fn' is already defined",
    ],
    "git_log": ["ee7103b6aea87d8b7370e187a348ff65bfd42256", "Tue Nov 24 17:49:50 2026 +0000"],
    "git_log_stat": ["docs: release checklist", "docs/RELEASING.md | 5 +++++"],
    "git_log_p": [
        "-def _has_user_text(msg: Any) -> bool:",
        "+    target = next((i for i, m in enumerate(messages) if user_text(m)), None)",
    ],
    "git_log_p_big": [
        "commit 0fe689d30da140642bc5fe0975093dedcc3805e0",
        "Engine: route every kind",
        "diff --git a/tests/fixtures/kubectl_pods.json b/tests/fixtures/kubectl_pods.json",
    ],
    "git_diff": [
        "+def looks_like_diagnostics(lines: list[str]) -> bool:",
        "+        if looks_like_diagnostics(lines):",
    ],
    "git_blame": ["223b8c7d (Seed 7dac591c maintainers 2026-11-24 17:43:53 +0000 186)"],
    "git_log_tsv": ["0fe689d\t2026-11-24", "5720 insertions(+)"],
    "ps_table": ["10882", "103024"],
    "top_batch": ["20321.7 free", "2 running"],
    "df_h": ["/dev/vda       ext4      252G   28G   74G  28% /"],
    "ss_tan": ["127.0.0.1:5432", "127.0.0.1:6379", "127.0.0.1:8000"],
    "lsblk": ["vda    256G disk        /"],
    "pip_list": ["pydantic                  2.14.4"],
    "ls_laR": ["107575 Apr 28  2025 _header_value_parser.py"],
    "find_py": ["/usr/lib/python3.11/asyncio/base_events.py"],
    "ls_laR_doc": ["/usr/share/doc/libsqlite3-0:", "100313 Aug 26  2025 changelog.gz"],
    "python_importtime": ["|      37296 | asyncio"],
    "grep_rn": ["/usr/lib/python3.11/email/utils.py:26:import re"],
    "tree_doc": ["hooks -> ../../../git-core/contrib/hooks"],
    "pip_show_files": ["Location: ", "requests/adapters.py"],
    "npm_view_json": [
        "sha512-qCqy1xSoaugxOD4IVHb1ZWdkvCF2W3aE2okKouWj8VwJ+ztskSiXoBnCSJqfKT+cVPJhuJqe9YLbY425+Zh00g=="
    ],
    "npm_view_range": [
        '"express@4.17.1"',
        '">= 0.10.0"',
        '"4491fc38605cf51f8629d39c2b5d026f98a4c134"',
    ],
    "npm_view_versions": ['"4.9.5"'],
    "npm_view_time": ['"16.8.0"', "2024-12-02T18:34:49.227000+00:00"],
    "pip_index_versions": ["Available versions:", "1.26.4"],
    "pip_inspect": ['"starlette"', '"1.10.0"'],
    "pip_list_json": ['"hypothesis"', '"6.170.17"'],
    "npm_ls_json": ['"body-parser"', '"6.16.2"'],
    "pipdeptree": [
        "annotated-doc [required: >=0.0.2, installed: 0.0.7]",
        "anyio [required: >=4.1.0, installed: 4.16.0]",
        "pydantic [required: >=2.9.0, installed: 2.14.4]",
        "starlette [required: >=1.6.0, installed: 1.10.0]",
    ],
    "pipdeptree_json": ['"annotated-types"', '">=0.6.0"', '"0.8.0"'],
    "openapi_spec": ['"/orders/{order_id}/cancel"', '"reason"'],
    "sqlite_csv": ["clang,1:14.0-55.7~deb12u1,20,devel", "clang-14,1:14.0.6-12,346,devel"],
    "dpkg_query_tsv": ["libsqlite3-0\t3.40.1-2+deb12u2"],
    "pytest_v": [
        "FAILED test_inventory.py::test_remove_unknown_sku - KeyError: 'Z-999'",
        "FAILED test_inventory.py::test_to_json_is_compact",
        "FAILED test_inventory.py::test_discount_rounds_half_up - AssertionError: assert 301 == 302",
    ],
    "pytest_color": ["test_discount_rounds_half_up", "AssertionError: assert 301 == 302"],
    "go_test_v": [
        "--- FAIL: TestMedian/[4_1_3_2]",
        "--- FAIL: TestMedian/[10_20]",
        "calc_test.go:68: Clamp(42, 0, 10) = 0, want 10",
        "--- FAIL: TestReverse",
    ],
    "go_test_json": ["--- FAIL: TestClamp/42_in_0_10"],
    "dpkg_log": ["2026-12-02 11:25:02 status installed clang:amd64 1:14.0-55.7~deb12u1"],
    "apt_term_log": ['Failed to open connection to "system" message bus'],
    "strace_file": ["/lib/python3.11/csv.py"],
    "markdown_readme": ["$ uv run fastapi dev"],
    "markdown_rich": ["python -m pip install rich", "Rich requires Python 3.8 or later."],
    "pydoc_html": ["parse_known_args</strong></a>(self, args=None, namespace=None)"],
    "source_python": [
        "async def serialize_response(",
        'field.validate(response_content, {}, loc=("response",))',
    ],
    "source_js": [
        "res.redirect = function redirect(url) {",
        "address = this.location(address).get('Location');",
    ],
    "source_go": ["func Fields(s string) []string {", "asciiSpace"],
    "ls_color": ["-> ../lib/python3.11/pdb.py"],
    "grep_color": ["raw_decode(self, s, idx=0):", "decoder.py"],
    "pip_progress_pty": ["Saved ./dl/pyarrow-24.0.0-cp311-cp311-manylinux_2_28_x86_64.whl"],
    "dd_progress": ["1572864000 bytes (1.6 GB, 1.5 GiB) copied"],
    "curl_progress": ["104M"],
    "binary_head": ["ELF"],
    "xxd_dump": ["00000040: 0600 0000 0400 0000 4000 0000 0000 0000"],
    "mixed_encoding": ["Jérémy Bobbio"],
}


def record(case: Case, exit_code: int) -> dict[str, object]:
    return {
        "id": case.id,
        "file": f"{case.id}.{case.ext}",
        "program": case.program,
        "command": case.command,
        "exit_code": exit_code,
        "question": case.question,
        "needles": NEEDLES.get(case.id, case.needles),
        "family": case.family,
        "is_code": case.is_code,
        "tool_name": case.tool_name,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--case", action="append", help="regenerate only this case (repeatable)")
    parser.add_argument(
        "--manifest-only",
        action="store_true",
        help="run nothing: rewrite manifest.json from the CASES and NEEDLES tables and check it",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=OUT,
        help="write the outputs and manifest.json here instead (to compare with the committed corpus)",
    )
    args = parser.parse_args(argv)
    out: Path = args.out
    wanted = set() if args.manifest_only else set(args.case or [c.id for c in CASES])
    unknown = wanted - {c.id for c in CASES}
    if unknown:
        parser.error(f"unknown case(s): {sorted(unknown)}")
    WORK.mkdir(parents=True, exist_ok=True)
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / "manifest.json"
    old: dict[str, dict[str, object]] = {}
    if manifest_path.exists():
        old = {r["id"]: r for r in json.loads(manifest_path.read_text())}
    hosts = registry_hosts()
    records: list[dict[str, object]] = []
    problems: list[str] = []
    for case in CASES:
        if case.id not in wanted:
            if case.id in old:
                records.append(record(case, int(old[case.id]["exit_code"])))  # type: ignore[call-overload]
            continue
        data, code = run_case(case)
        data = scrub(data, hosts)
        if len(data) > MAX_BYTES:
            problems.append(f"{case.id}: {len(data)} bytes, over {MAX_BYTES}")
        (out / f"{case.id}.{case.ext}").write_bytes(data)
        records.append(record(case, code))
        print(f"{case.id:24} exit={code:<4} {len(data):>9,} bytes", flush=True)
    for rec in records:
        text = (out / str(rec["file"])).read_bytes().decode("utf-8", errors="replace")
        for needle in rec["needles"]:  # type: ignore[attr-defined]
            if needle not in text:
                problems.append(f"{rec['id']}: needle not in output: {needle!r}")
        if not rec["needles"]:
            problems.append(f"{rec['id']}: no needles yet")
    manifest_path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n")
    for problem in problems:
        print("CHECK:", problem)
    total = sum((out / str(r["file"])).stat().st_size for r in records)
    programs = len({r["program"] for r in records})
    print(f"{len(records)} cases, {programs} programs, {total:,} bytes")
    return 1 if problems else 0


if __name__ == "__main__":
    raise SystemExit(main())
