import { describe, expect, it } from "vitest";
import { type Backoff, ConstantBackoff, ExponentialBackoff, LinearBackoff } from "../../src/utils/backoff.js";

const attempts = (backoff: Backoff, upTo: number) =>
  Array.from({ length: upTo }, (_, i) => backoff.get(i + 1));

describe("ConstantBackoff", () => {
  it("returns the constant for every attempt", () => {
    const backoff = new ConstantBackoff({ constant: 5_000, floor: 0, ceiling: 10_000 });
    expect(attempts(backoff, 4)).toEqual([5_000, 5_000, 5_000, 5_000]);
  });

  it("clamps the constant into [floor, ceiling]", () => {
    expect(new ConstantBackoff({ constant: 10, floor: 100, ceiling: 1_000 }).get(1)).toBe(100);
    expect(new ConstantBackoff({ constant: 5_000, floor: 100, ceiling: 1_000 }).get(1)).toBe(1_000);
  });

  it("uses Alsek's defaults: 60 s constant within [60 s, 1 h]", () => {
    const backoff = new ConstantBackoff();
    expect([backoff.constant, backoff.floor, backoff.ceiling, backoff.zeroOverride]).toEqual([
      60_000,
      60_000,
      3_600_000,
      true,
    ]);
    expect(backoff.get(3)).toBe(60_000);
  });
});

describe("LinearBackoff", () => {
  it("grows by factor per attempt, clamped below by floor and above by ceiling", () => {
    const backoff = new LinearBackoff({ factor: 1_000, floor: 1_500, ceiling: 3_500 });
    expect(attempts(backoff, 5)).toEqual([1_500, 2_000, 3_000, 3_500, 3_500]);
  });

  it("defaults to a 30 s factor (Alsek's reference)", () => {
    const backoff = new LinearBackoff();
    expect(backoff.factor).toBe(30_000);
    expect(attempts(backoff, 4)).toEqual([60_000, 60_000, 90_000, 120_000]);
  });
});

describe("ExponentialBackoff", () => {
  it("computes factor * base ** attempt, clamped", () => {
    const backoff = new ExponentialBackoff({ base: 2, factor: 100, floor: 0, ceiling: 1_000 });
    expect(attempts(backoff, 5)).toEqual([200, 400, 800, 1_000, 1_000]);
  });

  it("uses Alsek's defaults: base 4, factor 10 s", () => {
    const backoff = new ExponentialBackoff();
    expect([backoff.base, backoff.factor]).toEqual([4, 10_000]);
    // 40 s is raised to the 60 s floor; 10 240 s is cut to the 1 h ceiling.
    expect(attempts(backoff, 5)).toEqual([60_000, 160_000, 640_000, 2_560_000, 3_600_000]);
  });

  it("caps an overflowing power at the ceiling", () => {
    const backoff = new ExponentialBackoff({ base: 10, factor: 1, floor: 0, ceiling: 5_000 });
    expect(backoff.get(400)).toBe(5_000);
    expect(backoff.get(Number.MAX_SAFE_INTEGER)).toBe(5_000);
  });

  it("truncates fractional results like Alsek's int()", () => {
    expect(new ExponentialBackoff({ base: 1.5, factor: 3, floor: 0 }).get(1)).toBe(4);
  });
});

describe("zeroOverride", () => {
  it("returns 0 for attempt 0 by default, below the floor", () => {
    for (const backoff of [new ConstantBackoff(), new LinearBackoff(), new ExponentialBackoff()]) {
      expect(backoff.get(0)).toBe(0);
    }
  });

  it("when off, computes attempt 0 with the formula and clamps it", () => {
    const options = { floor: 50, ceiling: 1_000, zeroOverride: false } as const;
    expect(new ConstantBackoff({ ...options, constant: 300 }).get(0)).toBe(300);
    expect(new LinearBackoff({ ...options, factor: 100 }).get(0)).toBe(50);
    expect(new ExponentialBackoff({ ...options, base: 2, factor: 200 }).get(0)).toBe(200);
  });
});

describe("jitter", () => {
  const samples = 500;

  it('"full" stays in [floor, computed] and actually varies', () => {
    const backoff = new ExponentialBackoff({
      base: 2,
      factor: 500,
      floor: 100,
      ceiling: 10_000,
      jitter: "full",
    });
    const seen = new Set<number>();
    for (let i = 0; i < samples; i += 1) {
      const delay = backoff.get(3); // computed: 4 000
      expect(delay).toBeGreaterThanOrEqual(100);
      expect(delay).toBeLessThanOrEqual(4_000);
      expect(Number.isInteger(delay)).toBe(true);
      seen.add(delay);
    }
    expect(seen.size).toBeGreaterThan(10);
  });

  it('"equal" stays in [max(floor, computed / 2), computed]', () => {
    const backoff = new LinearBackoff({ factor: 1_000, floor: 0, ceiling: 10_000, jitter: "equal" });
    for (let i = 0; i < samples; i += 1) {
      const delay = backoff.get(4); // computed: 4 000
      expect(delay).toBeGreaterThanOrEqual(2_000);
      expect(delay).toBeLessThanOrEqual(4_000);
    }
  });

  it("reaches both ends of its range with an injected random source", () => {
    const options = { constant: 1_000, floor: 200, ceiling: 5_000 };
    expect(new ConstantBackoff({ ...options, jitter: "full", random: () => 0 }).get(1)).toBe(200);
    expect(new ConstantBackoff({ ...options, jitter: "full", random: () => 0.999_999 }).get(1)).toBe(1_000);
    expect(new ConstantBackoff({ ...options, jitter: "equal", random: () => 0 }).get(1)).toBe(500);
    expect(new ConstantBackoff({ ...options, jitter: "equal", random: () => 0.5 }).get(1)).toBe(750);
    expect(new ConstantBackoff({ ...options, floor: 800, jitter: "equal", random: () => 0 }).get(1)).toBe(
      800,
    );
  });

  it('"none" (the default) is deterministic and attempt 0 stays 0 with jitter', () => {
    expect(new ConstantBackoff({ constant: 1_000, floor: 0 }).jitter).toBe("none");
    expect(new ConstantBackoff({ constant: 1_000, floor: 0, jitter: "full", random: () => 0.5 }).get(0)).toBe(
      0,
    );
  });
});

describe("validation", () => {
  const invalid = (option: string) => expect.objectContaining({ code: "WEIR_ERR_INVALID_OPTION", option });

  it("rejects negative, non-finite and inverted bounds at construction", () => {
    expect(() => new ConstantBackoff({ floor: -1 })).toThrow(invalid("floor"));
    expect(() => new ConstantBackoff({ ceiling: Number.POSITIVE_INFINITY })).toThrow(invalid("ceiling"));
    expect(() => new LinearBackoff({ floor: 2_000, ceiling: 1_000 })).toThrow(invalid("floor"));
    expect(() => new ConstantBackoff({ constant: -5 })).toThrow(invalid("constant"));
    expect(() => new LinearBackoff({ factor: Number.NaN })).toThrow(invalid("factor"));
    expect(() => new ExponentialBackoff({ base: 0.5 })).toThrow(invalid("base"));
    expect(() => new ExponentialBackoff({ factor: -1 })).toThrow(invalid("factor"));
  });

  it("rejects an unknown jitter and a non-boolean zeroOverride", () => {
    expect(() => new ConstantBackoff({ jitter: "half" as "full" })).toThrow(invalid("jitter"));
    expect(() => new ConstantBackoff({ zeroOverride: 1 as unknown as boolean })).toThrow(
      invalid("zeroOverride"),
    );
  });

  it("rejects a negative or fractional attempt", () => {
    const backoff = new ConstantBackoff();
    expect(() => backoff.get(-1)).toThrow(invalid("attempt"));
    expect(() => backoff.get(1.5)).toThrow(invalid("attempt"));
  });
});

describe("Backoff interface", () => {
  it("accepts a user-defined algorithm", () => {
    const fibonacci: Backoff = {
      get: (attempt) => {
        let [a, b] = [0, 1_000];
        for (let i = 0; i < attempt; i += 1) [a, b] = [b, a + b];
        return a;
      },
    };
    const delays = (backoff: Backoff) => [1, 2, 3, 4].map((n) => backoff.get(n));
    expect(delays(fibonacci)).toEqual([1_000, 1_000, 2_000, 3_000]);
  });
});
