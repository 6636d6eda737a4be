/**
 * Kubernetes' rules for object names, once: Node, DaemonSet and Lease names are RFC 1123 subdomains,
 * namespaces RFC 1123 labels (https://kubernetes.io/docs/concepts/overview/working-with-objects/names/).
 */

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** An RFC 1123 label: at most 63 lower-case letters, digits and '-', starting and ending alphanumeric. */
export function isDnsLabel(s: string): boolean {
  return s.length <= 63 && DNS_LABEL.test(s);
}

/** An RFC 1123 subdomain: dot-separated labels, at most 253 characters (the rule for Node names). */
export function isDnsSubdomain(s: string): boolean {
  return s.length <= 253 && DNS_SUBDOMAIN.test(s);
}
