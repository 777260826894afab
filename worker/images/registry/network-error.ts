/** A request that did not get through, or whose answer was cut short: worth trying again. */
export class NetworkError extends Error {}
