/** Small network helpers, dependency-free. */

/** true for an IPv4 127/8 address, IPv6 ::1, or an IPv4-mapped 127/8 address (RabbitMQ's loopback rule for guest) */
export function isLoopbackAddress(address: string | undefined): boolean {
  const a = address ?? '';
  return a.startsWith('127.') || a === '::1' || a.startsWith('::ffff:127.');
}
