# frozen_string_literal: true

require_relative "test_helper"
require_relative "../conformance/pattern"

# The conformance runner's generator and hash against the reference values
# of tests/README.md section 2.
class PatternTest < Minitest::Test
  def test_reference_values
    [
      [{ "size" => 0 }, "", "cbf29ce484222325"],
      [{ "size" => 8, "seed" => 1 }, "0162c2058614045c", "f4dc9033f034d6dd"],
      [{ "size" => 4096, "seed" => 1 }, "0162c2058614045c", "7f1272b0fb14a4b6"],
      [{ "size" => 16, "seed" => 7, "offset" => 100 }, "c456e1314f6d48d1", "9d71130f6634f904"],
      [{ "size" => 8, "seed" => 4_294_967_295 }, "0060c00380160652", "142a1cd7bbbda9d6"]
    ].each do |spec, head, hash|
      bytes = Pattern.bytes(spec)
      assert_equal spec["size"], bytes.bytesize
      assert_equal head, bytes.byteslice(0, 8).unpack1("H*")
      assert_equal hash, Pattern.fnv1a64(bytes)
    end
    assert_equal "\0" * 5, Pattern.bytes({ "size" => 5, "zero" => true, "seed" => 3 })
  end
end
