# frozen_string_literal: true

module Splicer
  # Version of the gem (the C library's is Splicer.library_version).
  VERSION = "0.1.0"
end
