import { parseCpuList } from '../../bench/lib/affinity';

describe('parseCpuList (the CPU list `taskset -cp` prints, used to pin the NextId benchmark)', () => {
  it.each([
    ['0', [0]],
    ['0,1', [0, 1]],
    ['0-3', [0, 1, 2, 3]],
    ['0-2,5,7-8', [0, 1, 2, 5, 7, 8]],
    ['', []],
    ['x', []],
  ])('reads %p as %p', (list, cpus) => {
    expect(parseCpuList(list)).toEqual(cpus);
  });
});
