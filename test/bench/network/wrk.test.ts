import { describe, expect, it } from 'vitest';
import { parseWrk } from './wrk.js';

const OK = `Running 5s test @ http://10.1.1.1:8080/hostname
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     3.10ms    1.20ms  20.00ms   80.00%
    Req/Sec     2.50k   200.00     3.00k    70.00%
  24890 requests in 5.00s, 3.10MB read
  Socket errors: connect 0, read 3, write 0, timeout 2
  Non-2xx or 3xx responses: 4
Requests/sec:   4977.21
Transfer/sec:    634.21KB
`;

describe('parseWrk', () => {
  it('reads requests per second, the total and every kind of error', () => {
    expect(parseWrk(OK)).toEqual({ rps: 4977.21, requests: 24890, errors: 9 });
  });
  it('a clean run has no errors', () => {
    const clean = OK.replace(/ {2}Socket errors.*\n/, '').replace(/ {2}Non-2xx.*\n/, '');
    expect(parseWrk(clean).errors).toBe(0);
  });
  it('refuses output without a summary (wrk could not connect at all)', () => {
    expect(() => parseWrk('unable to connect to 10.1.1.1:8080 Connection refused\n')).toThrow(/no summary/);
  });
});
