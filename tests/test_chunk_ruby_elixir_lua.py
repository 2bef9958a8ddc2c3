"""Definition chunking for Ruby, Elixir and Lua: exact spans, symbols, kinds, docs and fallbacks."""
from __future__ import annotations

import pytest
from test_chunking import spans
from test_chunking import uncovered

from coderag.analysis.languages import detect_language
from coderag.chunking.definitions import DefinitionChunker

# ---------------------------------------------------------------------------
# snippets, one realistic file per language
# ---------------------------------------------------------------------------

RUBY = '''\
# frozen_string_literal: true

require "json"

module Shop
  VERSION = "1.2"

  # An order of line items.
  # Totals are in cents.
  class Order < Base
    # Validates on save.
    include Validations
    attr_reader :items

    # Builds an order.
    def initialize(items = [])
      @items = items
    end

    # Parses JSON.
    def self.parse(json)
      new(JSON.parse(json))
    end

    class << self
      def registry
        @registry ||= {}
      end
    end

    def total = items.sum(&:price)

    private def check!
      raise Invalid if items.empty?
    end
  end

  def Shop.configure
    yield config
  end
end

def helper(x)
  x * 2
end

Shop::Order.parse("[]")
'''

ELIXIR = '''\
defmodule Shop.Cart do
  @moduledoc """
  A shopping cart.
  """
  alias Shop.Repo

  @doc "Adds an item."
  @spec add(map, map) :: map
  def add(cart, item) do
    Map.update(cart, :items, [item], &[item | &1])
  end

  # Normalises a SKU.
  defp normalize(sku) when is_binary(sku), do: String.upcase(sku)

  defmacro traced(expr) do
    quote do: IO.inspect(unquote(expr))
  end

  defguard is_sku(x) when is_binary(x)
  defdelegate fetch(id), to: Repo

  defmodule Item do
    defstruct [:sku, :price]

    def new(sku), do: %__MODULE__{sku: sku}
  end
end

defprotocol Shop.Priced do
  def price(item)
end

defimpl Shop.Priced, for: Shop.Cart.Item do
  def price(item), do: item.price
end

IO.puts("loaded")
'''

LUA = '''\
--- Vector helpers.
local M = {}

local EPSILON = 1e-9

-- Adds two vectors.
function M.add(a, b)
  return { x = a.x + b.x, y = a.y + b.y }
end

--- Length of v.
-- @param v vector
function M:length(v)
  return math.sqrt(v.x * v.x + v.y * v.y)
end

local function clamp(x, lo, hi)
  local function inner(v) return math.max(lo, v) end
  return math.min(hi, inner(x))
end

-- Scales v by k.
M.scale = function(v, k)
  return { x = v.x * k, y = v.y * k }
end

local ops = {
  neg = function(v) return M.scale(v, -1) end,
  zero = { x = 0, y = 0 },
}

return M
'''

CASES = {
    "ruby": (RUBY, [
        (1, 3, "module", ""),
        (5, 6, "module", "Shop"),  # header and constant before the class
        (8, 13, "class", "Shop.Order"),  # doc comment, header, include, attr_reader
        (15, 18, "method", "Shop.Order.initialize"),
        (20, 23, "method", "Shop.Order.parse"),  # def self.parse
        (25, 25, "class", "Shop.Order"),  # "class << self" is transparent ...
        (26, 28, "method", "Shop.Order.registry"),  # ... its methods belong to the class
        (31, 31, "method", "Shop.Order.total"),  # endless method
        (33, 35, "method", "Shop.Order.check!"),  # "private def" included
        (38, 40, "method", "Shop.configure"),  # def Shop.configure inside Shop
        (43, 45, "function", "helper"),
        (47, 47, "module", ""),
    ]),
    "elixir": (ELIXIR, [
        (1, 5, "module", "Shop.Cart"),  # @moduledoc and alias stay with the module
        (7, 11, "function", "Shop.Cart.add"),  # @doc and @spec included
        (13, 14, "function", "Shop.Cart.normalize"),  # comment included, guard and do: form
        (16, 18, "macro", "Shop.Cart.traced"),
        (20, 20, "macro", "Shop.Cart.is_sku"),
        (21, 21, "function", "Shop.Cart.fetch"),
        (23, 24, "module", "Shop.Cart.Item"),  # nested module, defstruct in its header chunk
        (26, 26, "function", "Shop.Cart.Item.new"),
        (30, 30, "protocol", "Shop.Priced"),
        (31, 31, "function", "Shop.Priced.price"),
        (34, 34, "module", "Shop.Priced.Shop.Cart.Item"),  # the module name Elixir gives the impl
        (35, 35, "function", "Shop.Priced.Shop.Cart.Item.price"),
        (38, 38, "module", ""),
    ]),
    "lua": (LUA, [
        (1, 4, "module", ""),  # the module table and locals
        (6, 9, "function", "M.add"),
        (11, 15, "method", "M.length"),  # function M:length, both comment lines included
        (17, 20, "function", "clamp"),  # local function, nested inner kept inside
        (22, 25, "function", "M.scale"),  # M.scale = function
        (27, 27, "object", "ops"),  # a table of functions is a scope ...
        (28, 28, "method", "ops.neg"),
        (29, 30, "object", "ops"),  # ... its data fields stay with it; "}" is left out
        (32, 32, "module", ""),
    ]),
}

PATHS = {"ruby": "app/models/order.rb", "elixir": "lib/shop/cart.ex", "lua": "lua/vector.lua"}


@pytest.fixture(scope="module")
def code() -> DefinitionChunker:
    return DefinitionChunker()


def test_detected_language_names_have_a_grammar():
    for language, path in PATHS.items():
        assert detect_language(path) == language
    assert detect_language("test/cart_test.exs") == "elixir"
    assert detect_language("Rakefile") == "ruby"
    assert detect_language("run", "#!/usr/bin/env lua\nprint(1)\n") == "lua"


@pytest.mark.parametrize(
    ("language", "symbol", "first_line", "context"),
    [
        ("ruby", "Shop.Order", "  # An order of line items.", "module Shop"),
        ("ruby", "Shop.Order.parse", "    # Parses JSON.", "module Shop\nclass Order < Base"),
        ("ruby", "Shop.Order.check!", "    private def check!", "module Shop\nclass Order < Base"),
        ("elixir", "Shop.Cart.add", '  @doc "Adds an item."', "defmodule Shop.Cart do"),
        ("elixir", "Shop.Cart.normalize", "  # Normalises a SKU.", "defmodule Shop.Cart do"),
        ("elixir", "Shop.Cart.Item.new", "    def new(sku), do: %__MODULE__{sku: sku}",
         "defmodule Shop.Cart do\ndefmodule Item do"),
        ("lua", "M.length", "--- Length of v.", ""),
        ("lua", "M.scale", "-- Scales v by k.", ""),
        ("lua", "ops.neg", "  neg = function(v) return M.scale(v, -1) end,", "local ops = {"),
    ],
)
def test_doc_comments_attributes_and_context(code, language, symbol, first_line, context):
    text, _ = CASES[language]
    chunk = next(c for c in code.chunk("f", text, language) if c.symbol == symbol)
    assert chunk.text.split("\n")[0] == first_line
    assert chunk.context == context


def test_ruby_comment_before_first_member_is_its_doc(code):
    # The grammar puts these comments in the class node, before its body.
    text = "class Foo # trailing\n  # Doc of a.\n  def a; end\n  # Doc of b.\n\n  def b; end\nend\n"
    assert spans(code.chunk("f.rb", text, "ruby")) == [
        (1, 1, "class", "Foo"), (2, 3, "method", "Foo.a"), (4, 4, "class", "Foo"),
        (6, 6, "method", "Foo.b"),
    ]  # the closing "end" lines are left out, like "}" lines
    text = "module Api\n  # The client.\n  class Client\n    def get; end\n  end\nend\n"
    assert spans(code.chunk("f.rb", text, "ruby"))[:2] == [(1, 1, "module", "Api"), (2, 3, "class", "Api.Client")]


def test_ruby_names(code):
    text = (
        "class Foo::Bar < Base\n  def Other.x; end\n  def ==(o) = true\nend\n"
        "def self.top; end\nlambda do\n  def in_block; end\nend\n"
    )
    assert spans(code.chunk("f.rb", text, "ruby")) == [
        (1, 1, "class", "Foo.Bar"), (2, 2, "method", "Foo.Bar.Other.x"), (3, 3, "method", "Foo.Bar.=="),
        (5, 5, "method", "top"), (6, 6, "module", ""),
        (7, 7, "function", "in_block"),
    ]


def test_elixir_clauses_and_operators_are_definitions(code):
    text = (
        "defmodule Math do\n  def fact(0), do: 1\n  def fact(n) when n > 0, do: n * fact(n - 1)\n"
        "  def a <~> b, do: {a, b}\n  defimpl String.Chars do\n    def to_string(_), do: \"m\"\n  end\nend\n"
    )
    assert spans(code.chunk("math.ex", text, "elixir")) == [
        (1, 1, "module", "Math"), (2, 2, "function", "Math.fact"), (3, 3, "function", "Math.fact"),
        (4, 4, "function", "Math.<~>"), (5, 5, "module", "Math.String.Chars"),
        (6, 6, "function", "Math.String.Chars.to_string"),
    ]


def test_elixir_calls_that_define_nothing_are_module_code(code):
    text = 'import Config\n\nconfig :shop, Shop.Repo,\n  pool_size: 10\n\ndefault = fn x -> x end\n'
    assert spans(code.chunk("config.exs", text, "elixir")) == [(1, 6, "module", "")]


def test_lua_names_and_anonymous_functions(code):
    text = (
        "function a.b.c:d() end\nfunction global_fn()\nend\nlocal cb = function() end\n"
        "x, y = function() end, 2\ntable.sort(t, function(p, q) return p < q end)\n"
        "setmetatable(M, { __index = function(t, k) return k end })\n"
    )
    assert spans(code.chunk("f.lua", text, "lua")) == [
        (1, 1, "method", "a.b.c.d"), (2, 3, "function", "global_fn"), (4, 4, "function", "cb"),
        (5, 6, "module", ""), (7, 7, "function", "__index"),
    ]


def test_lua_table_without_functions_is_module_code(code):
    text = "local config = {\n  depth = 3,\n  nested = { a = 1 },\n}\n\nreturn config\n"
    assert spans(code.chunk("f.lua", text, "lua")) == [(1, 6, "module", "")]


BROKEN = {
    "ruby": "end end end\n}}}} ))) ]]]\n" * 5,
    "elixir": "end end end\n}}}} ))) ]]]\n" * 5,
    "lua": "def (:\n  x = = 1\nclass\n}}}} ((( \n" * 5,
}


def test_missing_end_keeps_the_definitions_it_can(code):
    text = "class Foo\n  def a\n    1\n  end\n\n  def b\n    if x\n  end\nend\n"
    chunks = code.chunk("f.rb", text, "ruby")
    assert [c.symbol for c in chunks if c.kind == "function"] == ["a", "b"]
    assert uncovered(chunks, text) == []

