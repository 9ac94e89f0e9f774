/** The function was deployed with settings it cannot work with; no event can succeed until they are fixed. */
export class ConfigurationError extends Error {
  override readonly name = 'ConfigurationError';
}
