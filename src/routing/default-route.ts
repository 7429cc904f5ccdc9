/**
 * The names of the route and target that today's top-level `pools` list forms: every device no routing rule
 * takes mines there, and a configuration without `routes` has only it.
 */
export const DEFAULT_ROUTE = 'default';
export const DEFAULT_TARGET = 'default';
