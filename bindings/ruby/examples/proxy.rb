# frozen_string_literal: true

# proxy.rb: a TCP proxy with two threads per connection, each moving one
# direction with Splicer.copy (socket -> pipe -> socket in the kernel).
#   ruby proxy.rb LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT
# LISTEN_PORT 0 picks a free port; the port is printed on standard output.
# Each copy waits with the GVL released, so the threads of every connection
# run in parallel, and a connection's threads end with it.
require "socket"
require "splicer"

abort "usage: #{$PROGRAM_NAME} LISTEN_PORT UPSTREAM_HOST UPSTREAM_PORT" unless ARGV.size == 3
listen_port, upstream_host, upstream_port = ARGV
server = TCPServer.new("127.0.0.1", Integer(listen_port))
$stdout.puts "listening on #{server.addr[1]}"
$stdout.flush

# One direction: until the source's end of file, then pass the end on.
def pump(from, to)
  Splicer.copy(from, to)
rescue Errno::EPIPE, Errno::ECONNRESET, IOError
  nil # the other side went away
ensure
  begin
    to.close_write
  rescue IOError, SystemCallError
    nil
  end
end

trap("TERM") { exit }
loop do
  client = server.accept
  Thread.new(client) do |c|
    upstream = TCPSocket.new(upstream_host, Integer(upstream_port))
    up = Thread.new { pump(c, upstream) }
    pump(upstream, c)
    up.join
  rescue SystemCallError => e
    warn "proxy.rb: #{e.message}"
  ensure
    c.close
    upstream&.close
  end
end
