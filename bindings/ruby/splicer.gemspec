# frozen_string_literal: true

# gem build splicer.gemspec (from bindings/ruby) packs the C core's sources
# from ext/splicer/core, a symbolic link to the repository's core/: RubyGems
# adds the files it reaches through the link as regular files, so the gem
# carries the core and the repository holds no copy of it.
require_relative "lib/splicer/version"

Gem::Specification.new do |spec|
  spec.name = "splicer"
  spec.version = Splicer::VERSION
  spec.summary = "Zero-copy transfers between file descriptors on Linux " \
                 "(splice, tee, vmsplice, sendfile, copy_file_range)"
  spec.description = <<~TEXT
    Ruby binding of the splicer C library: a transfer session that picks the
    fastest kernel method for each pair of descriptors, falls back when the
    kernel refuses one, holds what it took from a source until it is
    delivered (nothing lost or duplicated), tees one source to several
    destinations, and counts what it did.  The GVL is released around every
    blocking call and waits are interruptible and Fiber.scheduler aware.
    require "splicer/io_splice" gives io_splice's API over the session.
  TEXT
  spec.licenses = ["MIT", "Apache-2.0"] # either, at the user's choice
  spec.authors = ["splicer contributors"]
  spec.homepage = "https://splicer.dev"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"

  core_files = Dir.glob(["ext/splicer/core/include/*.h", "ext/splicer/core/src/*.{c,h,map}"], base: __dir__)
  if core_files.none? { |f| f.end_with?("splicer.h") }
    raise "splicer.gemspec: the C core is not reachable through ext/splicer/core (build from bindings/ruby)"
  end

  spec.files = Dir.glob(["lib/**/*.rb", "ext/splicer/extconf.rb", "ext/splicer/splicer_wrap.c", "README.md"],
                        base: __dir__) + core_files
  spec.extensions = ["ext/splicer/extconf.rb"]
  spec.require_paths = ["lib"]
end
