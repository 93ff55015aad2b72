package mangosim

import "strings"

// User categories, person types and statuses as Mangopay spells them.
const (
	CategoryOwner    = "OWNER"
	CategoryPayer    = "PAYER"
	CategoryPlatform = "PLATFORM"

	PersonNatural = "NATURAL"
	PersonLegal   = "LEGAL"

	StatusActive            = "ACTIVE"
	StatusPendingUserAction = "PENDING_USER_ACTION"
	StatusClosed            = "CLOSED"
)

// Seeded user ids (see the table in the package documentation).
const (
	UserOwnerNatural        = "user_m_owner_natural"
	UserOwnerNatural2       = "user_m_owner_natural_2"
	UserOwnerNaturalPending = "user_m_owner_natural_pending"
	UserOwnerLegacyNumeric  = "146476890"
	UserOwnerLegal          = "user_m_owner_legal"
	UserOwnerSoletrader     = "user_m_owner_soletrader"
	UserOwnerLegalNoRep     = "user_m_owner_legal_norep"
	UserPayer               = "user_m_payer"
	UserPayerLegal          = "user_m_payer_legal"
	UserPlatform            = "user_m_platform"
	UserOwnerEnrolled       = "user_m_owner_enrolled"
	UserOwnerTriggered      = "user_m_owner_triggered"
	UserOwnerClosed         = "user_m_owner_closed"
	// UserOwnerAccept is a natural owner whose e-mail contains "accept": Enroll answers 200
	// without a RedirectUrl (the Sandbox SCA bypass, see [SCABypassed]).
	UserOwnerAccept = "user_m_owner_accept"
	// UserOwnerLegalAccept is a legal owner whose legal representative's e-mail contains
	// "accept": Enroll answers 200 without a RedirectUrl.
	UserOwnerLegalAccept = "user_m_owner_legal_accept"
)

// SCABypassed reports whether Sandbox skips SCA for u (since February 2026): when the e-mail
// of the person who does SCA — Email for a natural user, LegalRepresentative.Email for a
// legal one — contains "accept" (matched case-insensitively, a sim choice), e.g.
// ada+accept@example.com. Enroll then answers 200 with no PendingUserAction.RedirectUrl.
func SCABypassed(u User) bool {
	email := u.Email
	if u.PersonType == PersonLegal {
		email = u.LegalRepresentativeEmail
	}
	return strings.Contains(strings.ToLower(email), "accept")
}

// User is a Mangopay user as the simulator keeps it.
type User struct {
	ID              string
	Category        string // OWNER, PAYER, PLATFORM
	PersonType      string // NATURAL, LEGAL
	LegalPersonType string // BUSINESS, PARTNERSHIP, ORGANIZATION, SOLETRADER (LEGAL only)
	Status          string // ACTIVE, PENDING_USER_ACTION, CLOSED (UserStatus)
	Email           string
	// LegalRepresentativeEmail is LegalRepresentative.Email (LEGAL only); "" is answered as null
	// and makes Enroll fail with 400 param_error.
	LegalRepresentativeEmail string
	// Enrolled is IsEnrolled of GET sca-status.
	Enrolled bool
	// Triggered tells whether the user ever triggered an SCA enrollment; GET sca-status
	// answers 404 while both Triggered and Enrolled are false.
	Triggered bool
}

// DefaultUsers returns the seeded users documented in the package documentation.
func DefaultUsers() []User {
	natural := func(id, category, status, email string) User {
		return User{ID: id, Category: category, PersonType: PersonNatural, Status: status, Email: email}
	}
	legal := func(id, category, lpt, email, rep string) User {
		return User{ID: id, Category: category, PersonType: PersonLegal, LegalPersonType: lpt,
			Status: StatusActive, Email: email, LegalRepresentativeEmail: rep}
	}
	enrolled := natural(UserOwnerEnrolled, CategoryOwner, StatusActive, "enrolled@example.com")
	enrolled.Enrolled, enrolled.Triggered = true, true
	triggered := natural(UserOwnerTriggered, CategoryOwner, StatusActive, "triggered@example.com")
	triggered.Triggered = true
	return []User{
		natural(UserOwnerNatural, CategoryOwner, StatusActive, "owner@example.com"),
		natural(UserOwnerNatural2, CategoryOwner, StatusActive, "owner2@example.com"),
		natural(UserOwnerNaturalPending, CategoryOwner, StatusPendingUserAction, "pending@example.com"),
		natural(UserOwnerLegacyNumeric, CategoryOwner, StatusActive, "legacy@example.com"),
		legal(UserOwnerLegal, CategoryOwner, "BUSINESS", "company@example.com", "rep@example.com"),
		legal(UserOwnerSoletrader, CategoryOwner, "SOLETRADER", "soletrader@example.com", "sole@example.com"),
		legal(UserOwnerLegalNoRep, CategoryOwner, "BUSINESS", "legacy-company@example.com", ""),
		natural(UserPayer, CategoryPayer, StatusActive, "payer@example.com"),
		legal(UserPayerLegal, CategoryPayer, "ORGANIZATION", "payer-org@example.com", "payer-rep@example.com"),
		legal(UserPlatform, CategoryPlatform, "BUSINESS", "platform@example.com", "platform-rep@example.com"),
		enrolled,
		triggered,
		natural(UserOwnerClosed, CategoryOwner, StatusClosed, "closed@example.com"),
		natural(UserOwnerAccept, CategoryOwner, StatusActive, "ada+accept@example.com"),
		legal(UserOwnerLegalAccept, CategoryOwner, "BUSINESS", "accounts@example.com", "rep+accept@example.com"),
	}
}
