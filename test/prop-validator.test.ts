import { Duration, Lazy, Size, Token } from 'aws-cdk-lib';
import { PropValidator } from '../lib/private/prop-validator';

const v = new PropValidator('Thing my-id');
const tokenNumber = Token.asNumber(Lazy.number({ produce: () => 1 }));
const tokenString = Lazy.string({ produce: () => 'x' });

describe('PropValidator', () => {
  test('fail names the subject', () => {
    expect(() => v.fail('size must be small; received 3')).toThrow(/^Thing my-id: size must be small; received 3$/);
  });

  describe('wholeNumber', () => {
    test('in range, undefined and tokens pass', () => {
      for (const value of [1, 5, 10, undefined, tokenNumber]) {
        expect(() => v.wholeNumber('count', value, 1, 10)).not.toThrow();
      }
      expect(() => v.wholeNumber('count', 1_000_000, 1)).not.toThrow();
    });
    test.each([
      [0, /^Thing my-id: count must be a whole number from 1 to 10; received 0$/],
      [11, /count must be a whole number from 1 to 10; received 11$/],
      [1.5, /count must be a whole number from 1 to 10; received 1.5$/],
    ])('%p throws with prop, rule and value', (value, message) => {
      expect(() => v.wholeNumber('count', value, 1, 10)).toThrow(message);
    });
    test('without a maximum, and with a hint', () => {
      expect(() => v.wholeNumber('count', 0, 1)).toThrow(/count must be a whole number of at least 1; received 0$/);
      expect(() => v.wholeNumber('memory', 64, 128, 10_240, ' (MB)')).toThrow(
        /memory must be a whole number from 128 to 10240 \(MB\); received 64$/,
      );
    });
  });

  describe('number', () => {
    test('in range, undefined and tokens pass', () => {
      for (const value of [10, 55.5, 90, undefined, tokenNumber]) {
        expect(() => v.number('target', value, 10, 90)).not.toThrow();
      }
      expect(() => v.number('ratio', 0.5, 0, 1, { exclusive: true })).not.toThrow();
    });
    test('out of range throws with prop, rule and value', () => {
      expect(() => v.number('target', 95, 10, 90, { rule: 'a percentage' })).toThrow(
        /target must be a percentage from 10 to 90; received 95$/,
      );
      expect(() => v.number('target', NaN, 10, 90)).toThrow(/target must be from 10 to 90; received NaN$/);
      expect(() => v.number('ratio', 1, 0, 1, { exclusive: true })).toThrow(/ratio must be above 0 and below 1; received 1$/);
      expect(() => v.number('ratio', 0, 0, 1, { exclusive: true })).toThrow(/ratio must be above 0 and below 1; received 0$/);
    });
  });

  describe('duration', () => {
    const min = Duration.seconds(1);
    const max = Duration.minutes(15);
    test('in range, undefined and tokens pass', () => {
      for (const value of [min, max, Duration.millis(1500), undefined, Duration.seconds(tokenNumber)]) {
        expect(() => v.duration('timeout', value, min, max)).not.toThrow();
      }
      expect(() => v.duration('timeout', Duration.seconds(2), min, max, { wholeSeconds: true })).not.toThrow();
    });
    test('out of range throws with prop, rule and value', () => {
      expect(() => v.duration('timeout', Duration.minutes(16), min, max)).toThrow(
        /^Thing my-id: timeout must be from 1 second to 15 minutes; received 16 minutes$/,
      );
      expect(() => v.duration('timeout', Duration.millis(500), min, max)).toThrow(/received 500 millis$/);
    });
    test('wholeSeconds refuses fractions, and the hint follows the rule', () => {
      expect(() => v.duration('timeout', Duration.millis(1500), min, max, { wholeSeconds: true, hint: ' (the limit)' })).toThrow(
        /timeout must be whole seconds from 1 second to 15 minutes \(the limit\); received 1 second 500 millis$/,
      );
    });
  });

  describe('size', () => {
    const max = Size.kibibytes(1);
    test('in range, undefined and tokens pass', () => {
      for (const value of [Size.bytes(1), max, undefined, Size.bytes(tokenNumber)]) {
        expect(() => v.size('maxSize', value, 1, max)).not.toThrow();
      }
      expect(() => v.size('maxSize', Size.kibibytes(2), 1, Size.bytes(tokenNumber))).not.toThrow();
    });
    test('out of range throws with prop, rule and value', () => {
      expect(() => v.size('maxSize', Size.kibibytes(2), 64, max, 'the limit')).toThrow(
        /maxSize must be from 64 bytes to 1024 bytes \(the limit\); received 2048 bytes$/,
      );
      expect(() => v.size('maxSize', Size.bytes(10), 64, max)).toThrow(/maxSize must be from 64 bytes to 1024 bytes; received 10 bytes$/);
    });
  });

  describe('oneOf', () => {
    const allowed = ['a', 'b'];
    test('allowed, undefined and tokens pass', () => {
      for (const value of ['a', 'b', undefined, tokenString]) {
        expect(() => v.oneOf('kind', value, allowed, 'Kind')).not.toThrow();
      }
    });
    test('others throw with prop, rule and value', () => {
      expect(() => v.oneOf('kind', 'c', allowed, 'Kind')).toThrow(/kind must be one of 'a', 'b' \(Kind\); received 'c'$/);
    });
  });

  describe('text', () => {
    test('valid, undefined and tokens pass', () => {
      for (const value of ['x', 'abc', undefined, tokenString]) {
        expect(() => v.text('name', value, { maxLength: 3, pattern: /^[a-z]*$/ })).not.toThrow();
      }
    });
    test('wrong length throws with prop, rule, value and length', () => {
      expect(() => v.text('name', 'abcd', { maxLength: 3 })).toThrow(/name must be 1 to 3 characters; received 'abcd' \(4 characters\)$/);
      expect(() => v.text('name', '', { maxLength: 3 })).toThrow(/name must be 1 to 3 characters; received '' \(0 characters\)$/);
      expect(() => v.text('name', '', {})).toThrow(/name must be at least 1 characters; received ''/);
    });
    test('a mismatch throws with the rule given', () => {
      expect(() => v.text('email', 'nobody', { pattern: /@/, rule: 'an email address' })).toThrow(
        /email must be an email address; received 'nobody'$/,
      );
    });
  });
});
