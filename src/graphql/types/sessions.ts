import { isUsableSubject } from '../../auth/principal.js';
import { badUserInput } from '../../errors.js';
import { ADMIN_USER, builder } from '../builder.js';

/** Longer than any subject an identity provider sends, and short enough for the table's key. */
const MAX_SUBJECT = 1000;

builder.mutationField('revokeSessions', (t) =>
  t.boolean({
    // Credentials are managed by the tenant's admins, in person: not by a service or a key.
    authScopes: ADMIN_USER,
    description:
      "Revokes every user token of `subject` (its `sub`, exactly) in this tenant issued up to now (`iat` at or before this moment, or none): within a second each is refused with 401 on every instance, and that subject's open subscriptions end. Tokens issued later work. True even if the subject had no token; API keys and service tokens are not affected.",
    args: { subject: t.arg.string({ required: true }) },
    resolve: async (_root, args, ctx) => {
      // Compared with `sub` as it is: no trimming. A subject no token can carry is a mistake.
      if (!isUsableSubject(args.subject) || args.subject.length > MAX_SUBJECT)
        throw badUserInput(
          `subject must be a token's sub: 1 to ${MAX_SUBJECT} characters, no control characters.`,
        );
      await ctx.sessions.revoke(ctx, args.subject);
      return true;
    },
  }),
);
